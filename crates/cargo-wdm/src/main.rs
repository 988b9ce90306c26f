//! `cargo wdm`: the command line. Cargo runs `cargo-wdm wdm <command> ...`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use cargo_wdm::{image, pnp, sys, tools, wine, wine_patch};

const HELP: &str = "\
cargo wdm <command>

  new <name>            a driver crate (library, driver binary, simulator tests, the WDK-path
                        files, a user-mode client) that builds and passes its tests as made;
                        --pnp: a PnP function driver (wdm::pnp, a device interface, run
                        through SetupAPI); `cargo wdm new --help` for its options
  build [--release]     the driver as a .sys for x86_64-pc-windows-msvc without the WDK
                        (rust-lld, the driver link flags, the release profile: a driver image
                        is always optimised), then the image checks, one line per image; the
                        .sys goes to target/wdm/drivers/
        --wdk           on Windows with the WDK: the windows-drivers-rs path (cargo make)
                        instead. NOT TESTED by the wdm project, whose machines have no WDK
  check <file.sys>...   the image checks alone, for any driver (also one built elsewhere):
                        PE32+ AMD64, NATIVE, WDM-driver flag, not a DLL, entry point,
                        checksum, imports only from ntoskrnl.exe/HAL.dll and only names they
                        export, memory integrity (HVCI: sections aligned to 0x1000, none
                        writable and executable, NX-compatible), and warnings for imports
                        Wine 8 only stubs
  test [--stress-scale N] [-- <cargo test args>]
                        the crate's simulator tests (cargo test); N multiplies the stress
                        runs' length (WDM_STRESS_SCALE)
  run --client <crate dir or .exe> [-- <client args>]
                        the driver under Wine in a fresh prefix, installed as a kernel
                        service, the client run against it, then the service stopped; shows
                        the client's output and the driver's DbgPrint, ends with a verdict.
                        Installs wine64 and the mingw linker with apt when root; a driver that
                        imports StartIo or IoCsq routines runs on Wine with the wdm ntoskrnl
                        patch (built from Debian's source once, then cached). A PnP driver
                        ([package.metadata.wdm.pnp] hardware-id = 'root\\name' in its
                        Cargo.toml) is installed on a root device through SetupAPI instead,
                        the client run (it finds the device by its interface), the device
                        removed (DIF_REMOVE) and the service stopped
";

/// Prints a step's progress line (bold on a terminal).
fn step(text: &str) {
    if std::io::stdout().is_terminal() {
        println!("\x1b[1m==> {text}\x1b[0m");
    } else {
        println!("==> {text}");
    }
}

/// A verdict line, green or red on a terminal.
fn verdict(ok: bool, text: &str) {
    let colour = if ok { "32" } else { "31" };
    if std::io::stdout().is_terminal() {
        println!("\x1b[1;{colour}m{text}\x1b[0m");
    } else {
        println!("{text}");
    }
}

/// The driver crate in the current folder.
struct Crate {
    dir: PathBuf,
    workspace: PathBuf,
    package: String,
    bin: String,
}

fn this_crate() -> Result<Crate, String> {
    let dir = std::env::current_dir().map_err(|e| e.to_string())?;
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).map_err(|_| {
        format!(
            "{}: no Cargo.toml here; run cargo wdm in a driver crate's folder",
            dir.display()
        )
    })?;
    let (package, bin) = sys::driver_of(&manifest)?;
    let workspace = sys::workspace_root(&dir)?;
    Ok(Crate {
        dir,
        workspace,
        package,
        bin,
    })
}

fn build(release: bool) -> Result<sys::Built, String> {
    let c = this_crate()?;
    let root_manifest = std::fs::read_to_string(c.workspace.join("Cargo.toml")).map_err(|e| e.to_string())?;
    if let Err(advice) = sys::check_manifest(&root_manifest, release) {
        println!("warning: {advice}");
    }
    step(&format!(
        "building {} as a .sys ({}, {}, rust-lld, no WDK)",
        c.bin,
        sys::TARGET,
        if release { "release" } else { "dev" }
    ));
    let target = c.workspace.join("target/wdm");
    let built = sys::build(&sys::Request {
        dir: c.dir.clone(),
        target_dir: target.clone(),
        out_dir: target.join("drivers"),
        drivers: vec![(c.package, c.bin)],
        release,
    })?;
    built.into_iter().next().ok_or_else(|| "nothing was built".into())
}

fn print_verdict(path: &Path, size: u64, v: &image::Verdict) {
    verdict(
        v.ok(),
        &format!(
            "{}: {size} bytes, {} imports, {}",
            path.display(),
            v.imports.len(),
            v.summary()
        ),
    );
    for w in &v.warnings {
        println!("  warning: {w}");
    }
}

fn cmd_build(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--wdk") {
        return wdk_build();
    }
    if args.iter().any(|a| a == "--debug" || a == "--dev") {
        return Err(DEV_BUILD.into());
    }
    if let Some(bad) = args.iter().find(|a| *a != "--release") {
        return Err(format!("cargo wdm build: unknown argument {bad} (see cargo wdm help)"));
    }
    let b = build(true)?;
    print_verdict(&b.path, b.size, &b.verdict);
    if b.verdict.ok() {
        Ok(())
    } else {
        Err("the image failed its checks".into())
    }
}

/// Why a driver image is always built with the release profile.
const DEV_BUILD: &str = "a driver image is built with the release profile (--release is the default): the \
    standard library rustup ships is compiled for unwinding, and without optimisation and LTO the image keeps \
    references to __CxxFrameHandler3 and strlen that a kernel image cannot import; the simulator tests \
    (cargo wdm test) are the debug builds";

/// The windows-drivers-rs path: `cargo make` with the crate's Makefile.toml (the WDK and
/// cargo-make installed). Not tested by this project: its machines have no WDK.
fn wdk_build() -> Result<(), String> {
    if !cfg!(windows) {
        return Err(
            "--wdk builds with the installed WDK through windows-drivers-rs (cargo make), which needs \
                    Windows with the WDK; on this host use cargo wdm build (no WDK needed). The --wdk path is \
                    not tested by the wdm project."
                .into(),
        );
    }
    println!("note: the --wdk path (cargo make, windows-drivers-rs) is not tested by the wdm project");
    let status = Command::new("cargo")
        .args(["make", "--profile", "release"])
        .status()
        .map_err(|e| format!("cargo make: {e} (install it with cargo install cargo-make)"))?;
    if status.success() {
        Ok(())
    } else {
        Err("cargo make failed".into())
    }
}

fn cmd_check(args: &[String]) -> Result<(), String> {
    if args.is_empty() {
        return Err("cargo wdm check <file.sys>...: name at least one image".into());
    }
    let exports = image::Exports::bundled()?;
    let mut failed = 0;
    for file in args {
        let data = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
        let v = image::check(&data, &exports);
        print_verdict(Path::new(file), data.len() as u64, &v);
        failed += usize::from(!v.ok());
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} image(s) failed the checks"))
    }
}

fn cmd_test(args: &[String]) -> Result<(), String> {
    let mut cargo_args = vec!["test".to_owned()];
    let mut scale = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--stress-scale" => scale = Some(it.next().ok_or("--stress-scale needs a number")?.clone()),
            "--" => cargo_args.extend(it.by_ref().cloned()),
            other => return Err(format!("cargo wdm test: unknown argument {other}")),
        }
    }
    if let Some(n) = &scale {
        n.parse::<u32>()
            .map_err(|_| format!("--stress-scale {n}: not a number"))?;
    }
    step("the simulator tests (cargo test)");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(&cargo_args);
    if let Some(n) = scale {
        cmd.env("WDM_STRESS_SCALE", n);
    }
    let status = cmd.status().map_err(|e| format!("cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("tests failed".into())
    }
}

/// Builds a client crate for Windows (mingw links it) and returns its `.exe`.
fn build_client(dir: &Path) -> Result<PathBuf, String> {
    let dir = &dir.canonicalize().map_err(|e| {
        format!(
            "{}: {e} (--client takes a client crate's folder or an .exe)",
            dir.display()
        )
    })?;
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).map_err(|e| {
        format!(
            "{}: {e} (--client takes a client crate's folder or an .exe)",
            dir.display()
        )
    })?;
    let (package, bin) = sys::driver_of(&manifest)?;
    step(&format!("building the client {bin} for {}", wine::CLIENT_TARGET));
    let target = sys::workspace_root(dir)?.join("target/wdm/client");
    wine::build_client(dir, &package, &bin, &target)
}

fn cache_dir(workspace: &Path) -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("CARGO_WDM_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("cargo-wdm")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/cargo-wdm")))
        .unwrap_or_else(|| workspace.join("target/wdm"))
}

fn cmd_run(args: &[String]) -> Result<(), String> {
    let mut client = None;
    let release = true;
    let mut client_args = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--client" => {
                client = Some(PathBuf::from(
                    it.next().ok_or("--client needs a crate folder or an .exe")?,
                ))
            }
            "--debug" => return Err(DEV_BUILD.into()),
            "--" => client_args.extend(it.by_ref().cloned()),
            other => return Err(format!("cargo wdm run: unknown argument {other}")),
        }
    }
    let client = client.ok_or("cargo wdm run --client <crate dir or .exe>: the client to run against the driver")?;
    let started = Instant::now();
    let driver = build(release)?;
    print_verdict(&driver.path, driver.size, &driver.verdict);
    if !driver.verdict.ok() {
        return Err("the image failed its checks; it would not load".into());
    }
    step("Wine: wine64 and the mingw linker");
    tools::ensure_packages(&["wine64", "gcc-mingw-w64-x86-64"])
        .map_err(|e| format!("{e}; as root, cargo wdm installs them with apt (Debian, Ubuntu)"))?;
    if !Path::new(wine::WINE).exists() {
        return Err(format!("{} is missing: install wine64 (Debian's package)", wine::WINE));
    }
    let exe = if client.extension().is_some_and(|e| e.eq_ignore_ascii_case("exe")) {
        client.clone()
    } else {
        build_client(&client)?
    };
    let c = this_crate()?;
    let work = c.workspace.join("target/wdm/wine");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let imports: Vec<&str> = driver.verdict.imports.iter().map(|(_, n)| n.as_str()).collect();
    // The stubs a run may reach (not wdm::pnp's PoRequestPowerIrp: wine::WINE_STUBS_UNREACHED).
    let reached = wine::stubs_reached(imports.iter().copied());
    let unrunnable: Vec<&str> = reached
        .iter()
        .copied()
        .filter(|n| wine::NOT_PATCHED.contains(n))
        .collect();
    if !unrunnable.is_empty() {
        return Err(format!(
            "the driver imports {}, which Wine 8 lacks or only stubs: it cannot run under Wine",
            unrunnable.join(", ")
        ));
    }
    let needs_patch = !reached.is_empty();
    let patched = if needs_patch {
        step("the wdm ntoskrnl patch (the driver imports routines stock Wine 8 only stubs)");
        Some(wine_patch::patched_ntoskrnl(
            &cache_dir(&c.workspace).join("wine-ntoskrnl"),
        )?)
    } else {
        None
    };
    let loader = format!(
        "{}{}",
        wine::version(),
        if needs_patch { " + wdm ntoskrnl patch" } else { "" }
    );
    step(&format!("a fresh Wine prefix ({loader}; about 20 s)"));
    let prefix = wine::Prefix::create(&work, patched.as_ref())?;
    let bin = prefix.drive_c().join("wdm");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    let name = exe
        .file_name()
        .ok_or("the client has no file name")?
        .to_string_lossy()
        .into_owned();
    std::fs::copy(&exe, bin.join(&name)).map_err(|e| format!("{}: {e}", exe.display()))?;
    wine::build_shim(&bin.join("bcryptprimitives.dll"))?;
    let program = format!(r"C:\wdm\{name}");
    let mut command: Vec<&str> = vec![&program];
    command.extend(client_args.iter().map(String::as_str));
    let client = || {
        step(&format!("running the client {name}"));
        let run = prefix.wine(Duration::from_secs(120), &command)?;
        let stdout = String::from_utf8_lossy(&run.stdout).replace("\r\n", "\n");
        for line in stdout.lines() {
            println!("  | {line}");
        }
        Ok::<_, String>(run)
    };
    let (run, stopped, how) = match pnp::Pnp::of_crate(&c.dir)? {
        None => {
            step(&format!(
                "installing {} as a kernel service and starting it",
                driver.name
            ));
            prefix.install_driver(&driver.path, &driver.name)?;
            let run = client()?;
            step(&format!("stopping {} (the driver unloads)", driver.name));
            (run, prefix.stop_service(&driver.name), "the driver unloaded")
        }
        Some(decl) if decl.upper_filter => {
            return Err(format!("{} is an upper filter: {}", driver.name, pnp::WINE_NO_FILTERS));
        }
        Some(decl) => {
            step(&format!(
                "installing {} on a root device ({}) through SetupAPI",
                driver.name, decl.hardware_id
            ));
            let installer = pnp::installer(&cache_dir(&c.workspace))?;
            let run = prefix.run_pnp(&installer, &driver.path, &driver.name, &decl, |installed| {
                println!("  {}", installed.line);
                if let Some(path) = &installed.interface_path {
                    println!("  interface {path}");
                }
                let run = client();
                step(&format!(
                    "removing the device (DIF_REMOVE: SURPRISE_REMOVAL, REMOVE_DEVICE), stopping {}",
                    driver.name
                ));
                run
            });
            let timings = run.timings();
            let (Some(out), Some(removed)) = (run.client, run.removed) else {
                let e = run.installed.err().unwrap_or_default();
                return Err(format!(
                    "installing through SetupAPI failed: {e}; see {}",
                    prefix.log.display()
                ));
            };
            if let Ok(r) = &removed {
                println!("  {}", r.line);
            }
            println!("  {timings}");
            (
                out?,
                removed.map(drop),
                "the device was removed and the driver unloaded",
            )
        }
    };
    println!("the driver's DbgPrint output:");
    for line in prefix.debug_output() {
        println!("  > {line}");
    }
    let seconds = started.elapsed().as_secs_f64();
    match (run.status.code(), stopped) {
        (Some(0), Ok(())) => {
            verdict(
                true,
                &format!("PASSED under {loader}: the client exited 0 and {how} ({seconds:.0} s)"),
            );
            Ok(())
        }
        (Some(124), _) => Err(format!(
            "the client timed out after 120 s; see {}",
            prefix.log.display()
        )),
        (code, Ok(())) => Err(format!("the client exited with {code:?}; see its output above")),
        (_, Err(e)) => Err(format!("the driver did not unload ({how} was expected): {e}")),
    }
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo wdm x` runs `cargo-wdm wdm x`.
    if args.first().is_some_and(|a| a == "wdm") {
        args.remove(0);
    }
    let Some(command) = args.first().cloned() else {
        print!("{HELP}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let result = match command.as_str() {
        "new" => cargo_wdm::new::command(rest),
        "build" => cmd_build(rest),
        "check" => cmd_check(rest),
        "test" => cmd_test(rest),
        "run" => cmd_run(rest),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown command {other}\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            verdict(false, &format!("error: {e}"));
            ExitCode::FAILURE
        }
    }
}
