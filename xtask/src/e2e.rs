//! `cargo xtask e2e`: every sample `.sys` loaded by a real PE loader — Wine's ntoskrnl — and
//! driven from a user-mode client, end to end.
//!
//! Steps: install `wine64` and the mingw linker if missing; build the client
//! (`e2e/client`, `x86_64-pc-windows-gnu`) and the `bcryptprimitives.dll` shim its standard
//! library needs under Wine 8; make a fresh prefix with a persistent wineserver; then for each
//! sample install the `.sys` as a kernel service, start it, run the client under a timeout, and
//! stop it. A sample whose image imports a routine Wine 8 only stubs is not run, and the table
//! says which routines.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::sys::Built;
use crate::wine_patch::Patched;

/// Routines Debian's Wine 8.0 exports only as stubs (they abort, or fail with
/// STATUS_NOT_IMPLEMENTED) or not at all, from ../shared/spec/wine-loader.md; for
/// IoAllocateDriverObjectExtension, from running minimal.sys here; for KeRemoveQueueDpc (which
/// every driver with a timer calls at unload) and IoCsqInitializeEx, from the `@ stub` lines
/// and the missing entries of the 8.0 source's ntoskrnl.exe.spec.
pub const WINE_STUBS: &[&str] = &[
    "KeRemoveQueueDpc",
    "IoCsqInitializeEx",
    "KeRemoveByKeyDeviceQueueIfBusy",
    "IoStartPacket",
    "IoStartNextPacketByKey",
    "IoSetStartIoAttributes",
    "KeRemoveEntryDeviceQueue",
    "KeInsertByKeyDeviceQueue",
    "KeRemoveByKeyDeviceQueue",
    "IoCsqInsertIrp",
    "IoCsqInsertIrpEx",
    "IoCsqRemoveIrp",
    "IoCsqRemoveNextIrp",
    "ExAllocatePool2",
    "KeGetCurrentIrql",
    "IoAllocateDriverObjectExtension",
];

const WINE: &str = "/usr/lib/wine/wine64";
const WINESERVER: &str = "/usr/lib/wine/wineserver";
const CLIENT_TARGET: &str = "x86_64-pc-windows-gnu";
pub(crate) const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc";

/// How a sample fared.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Every check passed; the summary line of the client.
    Passed(String),
    /// Something failed: why.
    Failed(String),
    /// Not run: why.
    NotRun(String),
}

impl Outcome {
    pub fn cell(&self) -> String {
        match self {
            Outcome::Passed(s) => format!("passed ({s})"),
            Outcome::Failed(s) => format!("FAILED: {s}"),
            Outcome::NotRun(s) => format!("not run: {s}"),
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self, Outcome::Failed(_))
    }
}

/// The Wine stubs an image imports.
pub fn stubs_imported(built: &Built) -> Vec<String> {
    built
        .verdict
        .imports
        .iter()
        .filter(|(_, name)| WINE_STUBS.contains(&name.as_str()))
        .map(|(_, name)| name.clone())
        .collect()
}

/// A Wine prefix with a persistent server, removed on drop.
pub(crate) struct Prefix {
    dir: PathBuf,
    pub(crate) log: PathBuf,
}

/// Prefixes made by this process: each gets its own folder, so that two can live at once.
static PREFIXES: AtomicUsize = AtomicUsize::new(0);

impl Prefix {
    pub(crate) fn wine(&self, timeout: Duration, args: &[&str]) -> Result<Output, String> {
        Command::new("timeout")
            .arg(timeout.as_secs().to_string())
            .arg(WINE)
            .args(args)
            .env("WINEPREFIX", &self.dir)
            .env("WINEARCH", "win64")
            .env("WINEDEBUG", "-all")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("wine64: {e}"))
    }

    /// With `patched`, the prefix loads that ntoskrnl.exe instead of Wine's.
    pub(crate) fn create(root: &Path, patched: Option<&Patched>) -> Result<Self, String> {
        let n = PREFIXES.fetch_add(1, Ordering::Relaxed);
        let (dir, log) = match n {
            0 => (
                format!("target/e2e/prefix-{}", std::process::id()),
                "target/e2e/wine.log".to_owned(),
            ),
            n => (
                format!("target/e2e/prefix-{}-{n}", std::process::id()),
                format!("target/e2e/wine-{n}.log"),
            ),
        };
        let dir = root.join(dir);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let prefix = Prefix {
            log: root.join(log),
            dir,
        };
        // 1. Create the prefix, and let that first session end completely.
        let init = Command::new("timeout")
            .args(["300", WINE, "wineboot", "-i"])
            .env("WINEPREFIX", &prefix.dir)
            .env("WINEARCH", "win64")
            .env("WINEDEBUG", "-all")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("wineboot: {e}"))?;
        if !init.success() {
            return Err(format!("wineboot -i failed ({init})"));
        }
        let _ = Command::new("timeout")
            .args(["120", WINESERVER, "-w"])
            .env("WINEPREFIX", &prefix.dir)
            .status();
        // 1b. The patched ntoskrnl.exe goes in now: after the prefix exists, before the session
        // that starts the services (and with them winedevice.exe, which loads ntoskrnl.exe).
        if let Some(patched) = patched {
            crate::wine_patch::install(&prefix.dir, patched, Path::new(WINE), Path::new(WINESERVER))?;
        }
        // 2. A persistent server: without it the session ends between commands and the
        // drivers are unloaded.
        let server = Command::new(WINESERVER)
            .arg("-p")
            .env("WINEPREFIX", &prefix.dir)
            .status()
            .map_err(|e| format!("wineserver: {e}"))?;
        if !server.success() {
            return Err("wineserver -p failed".into());
        }
        // 3. The first process of the new session starts the services; its stderr is where
        // they (and the drivers' DbgPrint output) write, so it goes to the log.
        let log = std::fs::File::create(&prefix.log).map_err(|e| e.to_string())?;
        let boot = Command::new("timeout")
            .args(["300", WINE, "wineboot"])
            .env("WINEPREFIX", &prefix.dir)
            .env("WINEARCH", "win64")
            .env("WINEDEBUG", "err+all,warn+debugstr,fixme+ntoskrnl")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .status()
            .map_err(|e| format!("wineboot: {e}"))?;
        if !boot.success() {
            return Err(format!("wineboot failed ({boot}); see {}", prefix.log.display()));
        }
        // A faulting driver must not start the interactive crash debugger.
        let aedebug = r"HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug";
        prefix.wine(
            Duration::from_secs(60),
            &["reg", "add", aedebug, "/v", "Auto", "/d", "1", "/f"],
        )?;
        prefix.wine(
            Duration::from_secs(60),
            &["reg", "delete", aedebug, "/v", "Debugger", "/f"],
        )?;
        Ok(prefix)
    }

    pub(crate) fn drive_c(&self) -> PathBuf {
        self.dir.join("drive_c")
    }

    /// `sc create` then `sc start`, with retries: services.exe may still be settling after boot.
    pub(crate) fn start_service(&self, name: &str) -> Result<(), String> {
        let bin = format!(r"C:\windows\system32\drivers\{name}.sys");
        let mut last = String::new();
        for attempt in 0..5 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_secs(2));
            }
            let query = self.wine(Duration::from_secs(60), &["sc", "query", name])?;
            if !String::from_utf8_lossy(&query.stdout).contains("SERVICE_NAME") {
                self.wine(
                    Duration::from_secs(60),
                    &[
                        "sc", "create", name, "type=", "kernel", "start=", "demand", "binPath=", &bin,
                    ],
                )?;
                continue;
            }
            let start = self.wine(Duration::from_secs(60), &["sc", "start", name])?;
            let out = String::from_utf8_lossy(&start.stdout);
            if out.contains("RUNNING") {
                return Ok(());
            }
            last = out
                .lines()
                .find(|l| l.contains("STATE") || l.contains("EXIT"))
                .unwrap_or("")
                .trim()
                .to_owned();
            if let Some(exit) =
                String::from_utf8_lossy(&self.wine(Duration::from_secs(60), &["sc", "query", name])?.stdout)
                    .lines()
                    .find(|l| l.contains("WIN32_EXIT_CODE"))
            {
                last = format!("{last} {}", exit.trim());
            }
        }
        Err(format!(
            "the service did not start ({last}); see {}",
            self.log.display()
        ))
    }
}

impl Prefix {
    /// `sc stop`, then waits (10 s at most) for the service to report STOPPED: the driver's
    /// unload routine has returned.
    fn stop_service(&self, name: &str) -> Result<(), String> {
        self.wine(Duration::from_secs(60), &["sc", "stop", name])?;
        let mut state = String::new();
        for _ in 0..20 {
            let query = self.wine(Duration::from_secs(60), &["sc", "query", name])?;
            let out = String::from_utf8_lossy(&query.stdout).into_owned();
            state = out
                .lines()
                .find(|l| l.contains("STATE"))
                .unwrap_or("")
                .trim()
                .to_owned();
            if state.contains("STOPPED") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Err(format!(
            "the service did not stop ({state}); see {}",
            self.log.display()
        ))
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let _ = Command::new(WINESERVER).arg("-k").env("WINEPREFIX", &self.dir).status();
        // The server may take a moment to let go of the prefix.
        std::thread::sleep(Duration::from_millis(500));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn build_client(root: &Path) -> Result<PathBuf, String> {
    crate::tools::ensure_rust_target(CLIENT_TARGET)?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(["build", "--release", "-p", "wdm-e2e-client", "--target", CLIENT_TARGET])
        .args(["--target-dir", "target/e2e/build"])
        .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER", MINGW_GCC)
        .env_remove("RUSTFLAGS")
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if !status.success() {
        return Err("building the client failed".into());
    }
    Ok(root.join(format!("target/e2e/build/{CLIENT_TARGET}/release/wdm-e2e-client.exe")))
}

fn build_shim(root: &Path, out: &Path) -> Result<(), String> {
    let status = Command::new(MINGW_GCC)
        .args(["-shared", "-O2", "-o"])
        .arg(out)
        .arg(root.join("e2e/shim/bcryptprimitives.c"))
        .arg("-ladvapi32")
        .status()
        .map_err(|e| format!("{MINGW_GCC}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("building bcryptprimitives.dll failed".into())
    }
}

/// The Wine stubs the project's ntoskrnl patch (`e2e/wine/`) does not implement (the framework
/// never imports them; a driver that does cannot run under Wine 8 even patched). A sample whose
/// Wine stubs are all outside this list runs on the patched loader instead of being "not run".
pub const NOT_PATCHED: &[&str] = &["ExAllocatePool2", "KeGetCurrentIrql", "IoAllocateDriverObjectExtension"];

/// One sample's end-to-end result and the loader it ran on.
#[derive(Clone, Debug)]
pub struct Run {
    /// The sample.
    pub name: String,
    /// How it fared.
    pub outcome: Outcome,
    /// "Wine 8.0", "Wine 8.0 + wdm ntoskrnl patch", or "-" when it did not run.
    pub loader: String,
}

/// Which loader a sample needs.
enum Needs {
    Stock,
    Patched,
    /// Imports stubs the patch does not implement either.
    Neither(Vec<String>),
}

fn needs(b: &Built) -> Needs {
    let stubs = stubs_imported(b);
    let unpatched: Vec<String> = stubs
        .iter()
        .filter(|s| NOT_PATCHED.contains(&s.as_str()))
        .cloned()
        .collect();
    if stubs.is_empty() {
        Needs::Stock
    } else if unpatched.is_empty() {
        Needs::Patched
    } else {
        Needs::Neither(unpatched)
    }
}

/// The installed Wine's version, as "Wine 8.0".
fn wine_version() -> String {
    Command::new(WINE)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let v = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            let number = v.strip_prefix("wine-")?.split_whitespace().next()?.to_owned();
            Some(format!("Wine {number}"))
        })
        .unwrap_or_else(|| "Wine".into())
}

/// The client and its shim copied into a prefix's `C:\e2e`.
fn install_client(prefix: &Prefix, root: &Path, client: &Path) -> Result<(), String> {
    let bin = prefix.drive_c().join("e2e");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    std::fs::copy(client, bin.join("wdm-e2e-client.exe")).map_err(|e| e.to_string())?;
    build_shim(root, &bin.join("bcryptprimitives.dll"))
}

/// Runs every sample under Wine: on the system's Wine when it implements what the sample
/// imports, on Wine with the project's ntoskrnl patch when the patch implements the rest (the
/// patch is built once and cached), and not at all otherwise. With the patch built, its own
/// tests run too (the last entry, named "ntoskrnl patch tests").
pub fn run(root: &Path, built: &[Built]) -> Vec<Run> {
    let not_run = |b: &Built, why: String| Run {
        name: b.name.clone(),
        outcome: Outcome::NotRun(why),
        loader: "-".into(),
    };
    println!("\n== end to end under Wine");
    if let Err(e) = crate::tools::ensure_packages(&["wine64", "gcc-mingw-w64-x86-64"]) {
        return built
            .iter()
            .map(|b| not_run(b, format!("Wine could not be installed ({e})")))
            .collect();
    }
    if !Path::new(WINE).exists() {
        return built.iter().map(|b| not_run(b, format!("{WINE} is missing"))).collect();
    }
    let started = Instant::now();
    let stock = wine_version();
    let patched_name = format!("{stock} + wdm ntoskrnl patch");
    let failed_all = |e: &str| -> Vec<Run> {
        built
            .iter()
            .map(|b| Run {
                name: b.name.clone(),
                outcome: Outcome::Failed(e.to_owned()),
                loader: "-".into(),
            })
            .collect()
    };
    let client = match build_client(root) {
        Ok(c) => c,
        Err(e) => return failed_all(&e),
    };
    // The patched loader, only if a sample needs it.
    let patched = if built.iter().any(|b| matches!(needs(b), Needs::Patched)) {
        println!("e2e: the wdm ntoskrnl patch (e2e/wine/): building or taking it from the cache");
        let p = crate::wine_patch::patched_ntoskrnl(root);
        match &p {
            Ok(p) => println!(
                "e2e: patched ntoskrnl.exe for Wine {} (patch {}) {} in {:.0} s",
                p.wine_version,
                &p.patch_hash[..16.min(p.patch_hash.len())],
                if p.from_cache { "from the cache" } else { "built" },
                p.seconds
            ),
            Err(e) => println!("e2e: the patched ntoskrnl.exe is not available: {e}"),
        }
        Some(p)
    } else {
        None
    };
    let mut results = Vec::new();
    let mut stock_prefix = None;
    let mut patched_prefix = None;
    for b in built {
        let (prefix, loader) = match needs(b) {
            Needs::Neither(stubs) => {
                println!("e2e: {}: not run (imports Wine stubs: {})", b.name, stubs.join(", "));
                results.push(not_run(
                    b,
                    format!(
                        "Wine only stubs {} (the wdm patch does not implement them)",
                        stubs.join(", ")
                    ),
                ));
                continue;
            }
            Needs::Stock => (&mut stock_prefix, (None, stock.clone())),
            Needs::Patched => match &patched {
                Some(Ok(p)) => (&mut patched_prefix, (Some(p), patched_name.clone())),
                Some(Err(e)) => {
                    results.push(not_run(
                        b,
                        format!("needs the wdm ntoskrnl patch, which could not be built: {e}"),
                    ));
                    continue;
                }
                None => unreachable!("built above whenever a sample needs it"),
            },
        };
        let (patch, loader) = loader;
        if prefix.is_none() {
            let label = if patch.is_some() { "patched" } else { "stock" };
            println!("e2e: making a fresh Wine prefix ({label}, about 20 s)");
            let made = Prefix::create(root, patch).and_then(|p| install_client(&p, root, &client).map(|()| p));
            match made {
                Ok(p) => *prefix = Some(p),
                Err(e) => {
                    results.push(Run {
                        name: b.name.clone(),
                        outcome: Outcome::Failed(e),
                        loader,
                    });
                    continue;
                }
            }
        }
        let prefix = prefix.as_ref().expect("made above");
        println!("e2e: {}: installing and starting the service ({loader})", b.name);
        let outcome = run_one(root, prefix, b);
        println!("e2e: {}: {}", b.name, outcome.cell());
        results.push(Run {
            name: b.name.clone(),
            outcome,
            loader,
        });
    }
    drop(stock_prefix);
    drop(patched_prefix);
    if let Some(Ok(p)) = &patched {
        println!("e2e: the patch's own tests (e2e/wine/tests) under {patched_name}");
        let outcome = match crate::wine_patch::run_tests(root, p) {
            Ok(summary) => Outcome::Passed(summary),
            Err(e) => Outcome::Failed(e),
        };
        println!("e2e: ntoskrnl patch tests: {}", outcome.cell());
        results.push(Run {
            name: "ntoskrnl patch tests".into(),
            outcome,
            loader: patched_name.clone(),
        });
    }
    println!("e2e: done in {:.0} s", started.elapsed().as_secs_f64());
    results
}

/// The lines between `--- transcript` and `--- end` in a program's output.
fn transcript(output: &str) -> Option<String> {
    let (_, rest) = output.split_once("--- transcript\n")?;
    let (body, _) = rest.split_once("--- end")?;
    Some(body.replace("\r\n", "\n"))
}

/// The sample's scenario on the simulator (its `scenario` test), for the comparison.
fn simulator_transcript(root: &Path, name: &str) -> Result<String, String> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(["test", "-q", "-p", name, "--test", "scenario", "--", "--nocapture"])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cargo: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match transcript(&stdout) {
        Some(t) if out.status.success() => Ok(t),
        _ => Err(format!("the simulator's run of the {name} scenario failed:\n{stdout}")),
    }
}

fn run_one(root: &Path, prefix: &Prefix, b: &Built) -> Outcome {
    let drivers = prefix.drive_c().join("windows/system32/drivers");
    if let Err(e) = std::fs::copy(&b.path, drivers.join(format!("{}.sys", b.name))) {
        return Outcome::Failed(format!("copying the image: {e}"));
    }
    if let Err(e) = prefix.start_service(&b.name) {
        return Outcome::Failed(e);
    }
    let run = prefix.wine(Duration::from_secs(90), &[r"C:\e2e\wdm-e2e-client.exe", &b.name]);
    let stop = prefix.stop_service(&b.name);
    let out = match run {
        Ok(o) => o,
        Err(e) => return Outcome::Failed(e),
    };
    let stdout = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    for line in stdout.lines() {
        println!("    {line}");
    }
    let summary = stdout.lines().last().unwrap_or("").trim().to_owned();
    let outcome = match out.status.code() {
        Some(0) => Outcome::Passed(summary),
        Some(124) => Outcome::Failed(format!("the client timed out after 90 s; see {}", prefix.log.display())),
        _ => Outcome::Failed(if summary.is_empty() {
            format!("the client exited with {}", out.status)
        } else {
            summary
        }),
    };
    let Outcome::Passed(summary) = outcome else {
        return outcome;
    };
    if let Err(e) = stop {
        return Outcome::Failed(format!("{summary}, but unloading failed: {e}"));
    }
    // A sample with a scenario: the transcript under Wine must be the simulator's, line for line.
    if wdm_e2e_scenario::by_name(&b.name).is_none() {
        return Outcome::Passed(format!("{summary}, unloaded"));
    }
    let Some(wine) = transcript(&stdout) else {
        return Outcome::Failed("the client printed no transcript".into());
    };
    match simulator_transcript(root, &b.name) {
        Err(e) => Outcome::Failed(e),
        Ok(sim) => match wdm_e2e_scenario::first_difference(&sim, &wine) {
            None => Outcome::Passed(format!(
                "{summary}, unloaded; transcript = simulator's, {} lines",
                wine.lines().count()
            )),
            Some(diff) => Outcome::Failed(format!("Wine and the simulator differ: {diff}")),
        },
    }
}

/// `cargo xtask e2e`.
pub fn command(root: &Path) -> Result<(), String> {
    let names = crate::sys::samples(root)?;
    let built = crate::sys::build(root, &names)?;
    let results = run(root, &built);
    println!("\n{:<22} {:<31} result", "sample", "loader");
    for r in &results {
        println!("{:<22} {:<31} {}", r.name, r.loader, r.outcome.cell());
    }
    if results.iter().any(|r| r.outcome.failed()) {
        Err("an end-to-end test failed".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every Wine stub the table treats as patched is exported by the patch (a `+@ stdcall`
    /// line in its ntoskrnl.exe.spec hunk), and the unpatched ones are not.
    #[test]
    fn the_patched_stubs_are_the_patch_s_exports() {
        let patch = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../e2e/wine/ntoskrnl-startio-csq.patch"
        ))
        .expect("the patch");
        let exported = |name: &str| patch.lines().any(|l| l.starts_with(&format!("+@ stdcall {name}(")));
        for stub in WINE_STUBS {
            assert_eq!(
                exported(stub),
                !NOT_PATCHED.contains(stub),
                "{stub}: exported by the patch, or listed in NOT_PATCHED"
            );
        }
        assert!(NOT_PATCHED.iter().all(|s| WINE_STUBS.contains(s)));
    }
}
