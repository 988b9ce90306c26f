//! `cargo xtask wine-pnp [filter]`: cargo-wdm's PnP path under Wine, checked with a C fixture
//! (`e2e/wine/pnp-fixture`: a root-enumerated function driver with a device interface, and
//! its client). The fixture goes through exactly what `cargo wdm run` and `cargo xtask e2e` use
//! for a PnP driver (`cargo_wdm::pnp`, `Prefix::run_pnp`): the INF written by
//! `cargo_wdm::pnp::inf`, the device created and the driver installed through SetupAPI, the
//! client opening the interface and sending its IOCTL, DIF_REMOVE, `sc stop`, STOPPED; then
//! the driver's DbgPrint must show the PnP sequence in order.
//!
//! `filter` also runs the upper-filter experiment (e2e/wine/README.md, "PnP drivers"): the
//! fixture built as an upper filter, asked for in the three ways a real system accepts (and
//! once more with the filter's service already running).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cargo_wdm::pnp::{Pnp, inf};
use cargo_wdm::wine::{MINGW_GCC, Prefix, WINE};

const FIXTURE: &str = "e2e/wine/pnp-fixture";
/// The fixture's service (and image) name, hardware ID and interface class.
pub const NAME: &str = "wdmpnp";
const FILTER: &str = "wdmpnpflt";
const HARDWARE_ID: &str = r"root\wdmpnp";
const INTERFACE: &str = "{8f4c3b1e-2d7a-4e59-a1c6-5b0e9d2f7a31}";

/// Where the fixture and the installer are built and cached.
pub fn cache(root: &Path) -> PathBuf {
    root.join("target/wine-pnp")
}

/// The fixture's declaration, as a driver crate's `[package.metadata.wdm.pnp]` would give it.
pub fn fixture_pnp() -> Pnp {
    Pnp {
        hardware_id: HARDWARE_ID.into(),
        interface: Some(INTERFACE.into()),
        inf: None,
        upper_filter: false,
    }
}

/// The fixture: (driver, filter driver, client).
pub fn build_fixture(root: &Path) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    cargo_wdm::tools::ensure_packages(&["gcc-mingw-w64-x86-64", "mingw-w64-x86-64-dev"])?;
    let src = root.join(FIXTURE);
    let out = cache(root).join("fixture");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let gcc = |args: &[&str], what: &str| -> Result<(), String> {
        let status = Command::new(MINGW_GCC)
            .current_dir(&src)
            .args(["-O2", "-Wall", "-Wextra", "-Werror"])
            .args(args)
            .status()
            .map_err(|e| format!("{MINGW_GCC}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("building {what} failed"))
        }
    };
    let driver_flags = [
        "-Wno-unused-parameter",
        "-I/usr/share/mingw-w64/include/ddk",
        "-shared",
        "-nostdlib",
        "-nostartfiles",
        "-Wl,--subsystem,native",
        "-Wl,--entry,DriverEntry",
    ];
    let path = |name: &str| out.join(name).to_string_lossy().into_owned();
    let (driver, filter, client) = (path("wdmpnp.sys"), path("wdmpnpflt.sys"), path("wdmpnp.exe"));
    let mut args = driver_flags.to_vec();
    args.extend(["-o", &driver, "wdmpnp_drv.c", "-lntoskrnl", "-lgcc"]);
    gcc(&args, "the fixture driver")?;
    let mut args = driver_flags.to_vec();
    args.extend(["-DWDMPNP_FILTER", "-o", &filter, "wdmpnp_drv.c", "-lntoskrnl", "-lgcc"]);
    gcc(&args, "the fixture filter")?;
    gcc(&["-s", "-o", &client, "wdmpnp.c", "-lsetupapi"], "the fixture client")?;
    Ok((driver.into(), filter.into(), client.into()))
}

/// The events the fixture driver must log, in this order, for one run.
const SEQUENCE: &[&str] = &[
    "wdmpnp: DriverEntry",
    "wdmpnp: AddDevice",
    "wdmpnp: interface registered",
    "wdmpnp: START_DEVICE",
    "wdmpnp: interface enabled",
    "wdmpnp: CREATE",
    "wdmpnp: ECHO",
    "wdmpnp: CLOSE",
    "wdmpnp: SURPRISE_REMOVAL",
    "wdmpnp: interface disabled",
    "wdmpnp: REMOVE_DEVICE",
    "wdmpnp: DriverUnload",
];

/// Whether `lines` hold every `events` prefix in order (other lines between them allowed).
pub(crate) fn in_order(lines: &[String], events: &[&str]) -> Result<(), String> {
    let mut at = 0;
    for event in events {
        match lines[at..].iter().position(|l| l.starts_with(event)) {
            Some(i) => at += i + 1,
            None => {
                return Err(format!(
                    "the driver did not log `{event}` after `{}`",
                    lines.get(at.wrapping_sub(1)).map_or("(start)", String::as_str)
                ));
            }
        }
    }
    Ok(())
}

/// The fixture end to end in `prefix` (made by the caller): returns the summary with the
/// measured timings. The client is the fixture's C one (copied in here), or with `rust_client`
/// (its Windows path in the prefix) the e2e client's `wdmpnp` case, which finds the device
/// with `e2e/client/src/pnp.rs`.
pub fn run_fixture(root: &Path, prefix: &Prefix, rust_client: Option<&str>) -> Result<String, String> {
    let (driver, _, client) = build_fixture(root)?;
    let installer = cargo_wdm::pnp::installer(&cache(root))?;
    let bin = prefix.drive_c().join(NAME);
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    std::fs::copy(&client, bin.join("wdmpnp.exe")).map_err(|e| format!("copying the client: {e}"))?;
    let pnp = fixture_pnp();
    let run = prefix.run_pnp(&installer, &driver, NAME, &pnp, |installed| {
        println!("    {}", installed.line);
        if let Some(path) = &installed.interface_path {
            println!("    interface {path}");
        }
        match rust_client {
            None => prefix.wine(Duration::from_secs(60), &[r"C:\wdmpnp\wdmpnp.exe"]),
            Some(exe) => prefix.wine(Duration::from_secs(60), &[exe, NAME]),
        }
    });
    let timings = run.timings();
    let installed = run.installed?;
    let out = run.client.expect("the client ran after the installation")?;
    let stdout = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    for line in stdout.lines() {
        println!("    {line}");
    }
    let summary = stdout.lines().last().unwrap_or("").trim().to_owned();
    let removed = run.removed.expect("the removal ran after the installation");
    if let Ok(r) = &removed {
        println!("    {}", r.line);
    }
    // DbgPrint reaches the log asynchronously; give the last lines a moment.
    std::thread::sleep(Duration::from_millis(300));
    let log = prefix.debug_output();
    for line in log.iter().filter(|l| l.starts_with("wdmpnp")) {
        println!("    > {line}");
    }
    if out.status.code() != Some(0) {
        return Err(format!("the client failed: {summary}"));
    }
    let removed = removed?;
    in_order(&log, SEQUENCE)?;
    let _ = (installed, removed);
    // The installer's failures: one line with the step and the Win32 error, a non-zero exit.
    for (args, expect) in [
        (
            &["remove", HARDWARE_ID][..],
            "pnp-install: FAIL remove: no device lists the hardware ID",
        ),
        (
            &["install", r"C:\wdm-pnp\missing.inf", HARDWARE_ID][..],
            "pnp-install: FAIL SetupDiGetINFClassW: error ",
        ),
        (
            &["find", "not-a-guid"][..],
            "pnp-install: FAIL find: not-a-guid is not a GUID",
        ),
        // The INF has no model for this ID (Wine's UpdateDriverForPlugAndPlayDevicesW still
        // returns TRUE): the installer says so, and the device made for it is removed again.
        (
            &["install", r"C:\wdm-pnp\wdmpnp.inf", r"root\nomodel"][..],
            "pnp-install: FAIL UpdateDriverForPlugAndPlayDevicesW installed no driver",
        ),
        (
            &["remove", r"root\nomodel"][..],
            "pnp-install: FAIL remove: no device lists the hardware ID",
        ),
    ] {
        match prefix.pnp_install(args) {
            Err(line) if line.starts_with(expect) => println!("    pnp-install {}: {line}", args.join(" ")),
            other => {
                return Err(format!(
                    "pnp-install {}: expected `{expect}...`, got {other:?}",
                    args.join(" ")
                ));
            }
        }
    }
    Ok(format!("{summary}, {}; {timings}", cargo_wdm::pnp::SUMMARY))
}

/// Why the run cannot happen here, if it cannot.
fn unavailable() -> Option<String> {
    if let Err(e) = cargo_wdm::tools::ensure_packages(&["wine64", "gcc-mingw-w64-x86-64", "mingw-w64-x86-64-dev"]) {
        return Some(format!("Wine or mingw could not be installed ({e})"));
    }
    if !Path::new(WINE).exists() {
        return Some(format!("{WINE} is missing"));
    }
    None
}

/// Whether a missing tool is a failure: `cargo xtask test` (e2e's REQUIRE) or WDM_REQUIRE_TOOLS.
fn required() -> bool {
    crate::e2e::REQUIRE.load(std::sync::atomic::Ordering::Relaxed) || std::env::var_os("WDM_REQUIRE_TOOLS").is_some()
}

/// What to do when the run cannot happen (`why`): print "not run", or fail when the tools are
/// required.
fn skip(why: Option<String>, required: bool) -> Result<Option<String>, String> {
    match why {
        None => Ok(None),
        Some(why) if required => Err(format!("wine-pnp: {why} (WDM_REQUIRE_TOOLS requires the Wine runs)")),
        Some(why) => Ok(Some(format!("wine-pnp: not run: {why}"))),
    }
}

/// The upper-filter experiment: the fixture installed three times, each in a fresh prefix,
/// with the filter asked for (1) by SPDRP_UPPERFILTERS on the device before the install, (2)
/// by the INF's hardware-key AddReg (`[<install>.HW]`, UpperFilters), (3) by the class key's
/// UpperFilters; the filter's service is added by the INF each time. Reports, per way,
/// whether the registry holds the value and whether the filter's DriverEntry and AddDevice
/// ran.
fn filter_experiment(root: &Path) -> Result<(), String> {
    let (driver, filter, client) = build_fixture(root)?;
    let installer = cargo_wdm::pnp::installer(&cache(root))?;
    let filter_service = format!(
        "AddService = {FILTER},,FilterService\r\n\r\n[FilterService]\r\nServiceType = 1\r\nStartType = 3\r\n\
         ErrorControl = 1\r\nServiceBinary = %12%\\{FILTER}.sys\r\n"
    );
    let base = inf(NAME, HARDWARE_ID).replace(
        "AddService = wdmpnp,0x00000002,WdmService\r\n",
        &format!("AddService = wdmpnp,0x00000002,WdmService\r\n{filter_service}"),
    );
    let hw = base.replace(
        "[WdmInstall.Services]",
        &format!(
            "[WdmInstall.HW]\r\nAddReg = WdmInstall.HW.AddReg\r\n\r\n[WdmInstall.HW.AddReg]\r\n\
             HKR,,\"UpperFilters\",0x00010000,\"{FILTER}\"\r\n\r\n[WdmInstall.Services]"
        ),
    );
    let class_key = format!(
        r"HKLM\System\CurrentControlSet\Control\Class\{}",
        cargo_wdm::pnp::SYSTEM_CLASS_GUID
    );
    let ways: [(&str, &str); 4] = [
        ("SPDRP_UPPERFILTERS set on the device before the install", "property"),
        (
            "UpperFilters in the INF's [WdmInstall.HW] AddReg (the hardware key)",
            "hw",
        ),
        ("UpperFilters on the System class key", "class"),
        (
            "SPDRP_UPPERFILTERS, and the filter's service started (sc start) before the install",
            "started",
        ),
    ];
    for (what, way) in ways {
        println!("\nwine-pnp filter: {what}");
        let prefix = Prefix::create(&root.join("target/e2e"), None)?;
        let drivers = prefix.drive_c().join("windows/system32/drivers");
        std::fs::copy(&driver, drivers.join("wdmpnp.sys")).map_err(|e| e.to_string())?;
        std::fs::copy(&filter, drivers.join("wdmpnpflt.sys")).map_err(|e| e.to_string())?;
        let dir = prefix.drive_c().join("wdm-pnp");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::copy(&installer, dir.join("pnp-install.exe")).map_err(|e| e.to_string())?;
        std::fs::copy(&client, dir.join("wdmpnp.exe")).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("wdmpnp.inf"), if way == "hw" { &hw } else { &base }).map_err(|e| e.to_string())?;
        if way == "class" {
            let out = prefix.wine(
                Duration::from_secs(60),
                &[
                    "reg",
                    "add",
                    &class_key,
                    "/v",
                    "UpperFilters",
                    "/t",
                    "REG_MULTI_SZ",
                    "/d",
                    FILTER,
                    "/f",
                ],
            )?;
            println!(
                "    reg add class UpperFilters: {}",
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
        let mut args = vec!["install", r"C:\wdm-pnp\wdmpnp.inf", HARDWARE_ID];
        if way == "property" || way == "started" {
            args.push(FILTER);
        }
        if way == "started" {
            let out = prefix.wine(
                Duration::from_secs(60),
                &[
                    "sc",
                    "create",
                    FILTER,
                    "type=",
                    "kernel",
                    "start=",
                    "demand",
                    "binPath=",
                    r"C:\windows\system32\drivers\wdmpnpflt.sys",
                ],
            )?;
            println!(
                "    sc create {FILTER}: {}",
                String::from_utf8_lossy(&out.stdout).trim()
            );
            let out = prefix.wine(Duration::from_secs(60), &["sc", "start", FILTER])?;
            let text = String::from_utf8_lossy(&out.stdout);
            println!(
                "    sc start {FILTER}: {}",
                text.lines()
                    .find(|l| l.contains("STATE"))
                    .map_or(text.trim(), str::trim)
            );
        }
        println!("    {}", prefix.pnp_install(&args).unwrap_or_else(|e| e));
        let run = prefix.wine(Duration::from_secs(60), &[r"C:\wdm-pnp\wdmpnp.exe"])?;
        println!(
            "    client: {}",
            String::from_utf8_lossy(&run.stdout).lines().last().unwrap_or("").trim()
        );
        let enum_key = r"HKLM\System\CurrentControlSet\Enum\ROOT\WDMPNP\0000";
        let parameters = format!(r"{enum_key}\Device Parameters");
        for (key, label) in [
            (enum_key, "device key"),
            (parameters.as_str(), "device key's Device Parameters"),
            (class_key.as_str(), "class key"),
        ] {
            let q = prefix.wine(Duration::from_secs(60), &["reg", "query", key, "/v", "UpperFilters"])?;
            let text = String::from_utf8_lossy(&q.stdout);
            let value = text.lines().find(|l| l.contains("UpperFilters")).map(str::trim);
            println!("    {label} UpperFilters: {}", value.unwrap_or("(none)"));
        }
        let q = prefix.wine(Duration::from_secs(60), &["sc", "query", FILTER])?;
        let state = String::from_utf8_lossy(&q.stdout)
            .lines()
            .find(|l| l.contains("STATE"))
            .map(|l| l.trim().to_owned())
            .unwrap_or_else(|| "no such service".into());
        println!("    service {FILTER}: {state}");
        println!(
            "    {}",
            prefix.pnp_install(&["remove", HARDWARE_ID]).unwrap_or_else(|e| e)
        );
        let _ = prefix.stop_service(NAME);
        std::thread::sleep(Duration::from_millis(300));
        let log = prefix.debug_output();
        let filter_lines: Vec<&String> = log.iter().filter(|l| l.starts_with("wdmpnpflt")).collect();
        let function_added = log.iter().any(|l| l.starts_with("wdmpnp: AddDevice"));
        println!(
            "    function driver AddDevice: {}; filter: {}",
            if function_added { "called" } else { "NOT called" },
            if filter_lines.is_empty() {
                "never loaded (no DriverEntry, no AddDevice)".to_owned()
            } else {
                filter_lines.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(" | ")
            }
        );
    }
    Ok(())
}

/// `cargo xtask wine-pnp [filter]`.
pub fn command(root: &Path, args: &[String]) -> Result<(), String> {
    let filter = match args {
        [] => false,
        [a] if a == "filter" => true,
        _ => return Err("wine-pnp: the only argument is `filter` (the upper-filter experiment)".into()),
    };
    if let Some(line) = skip(unavailable(), required())? {
        println!("{line}");
        return Ok(());
    }
    let started = Instant::now();
    println!(
        "wine-pnp: a fresh Wine prefix ({}), the fixture {NAME}.sys installed through SetupAPI",
        cargo_wdm::wine::version()
    );
    let prefix = Prefix::create(&root.join("target/e2e"), None)?;
    let made = started.elapsed().as_secs_f64();
    let result = run_fixture(root, &prefix, None);
    drop(prefix);
    match &result {
        Ok(summary) => println!(
            "wine-pnp: passed ({summary}); prefix {made:.1} s, total {:.1} s",
            started.elapsed().as_secs_f64()
        ),
        Err(e) => println!("wine-pnp: FAILED: {e}"),
    }
    result?;
    if filter {
        filter_experiment(root)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_wine_it_is_not_run_unless_required() {
        let why = || Some("/usr/lib/wine/wine64 is missing".to_owned());
        assert_eq!(skip(None, true), Ok(None));
        assert_eq!(
            skip(why(), false),
            Ok(Some("wine-pnp: not run: /usr/lib/wine/wine64 is missing".into()))
        );
        assert!(skip(why(), true).unwrap_err().contains("WDM_REQUIRE_TOOLS"));
    }

    #[test]
    fn the_sequence_check_wants_every_event_in_order() {
        let lines: Vec<String> = ["wdmpnp: DriverEntry", "x", "wdmpnp: AddDevice (0)"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(in_order(&lines, &["wdmpnp: DriverEntry", "wdmpnp: AddDevice"]).is_ok());
        assert!(in_order(&lines, &["wdmpnp: AddDevice", "wdmpnp: DriverEntry"]).is_err());
    }
}
