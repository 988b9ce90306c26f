//! Wine as a driver's test bench: a fresh prefix with a persistent server (optionally with the
//! project's patched ntoskrnl.exe), a `.sys` installed as a kernel service and started, a
//! user-mode client run against it, the service stopped (the driver unloaded), and the
//! driver's DbgPrint output read back from the log.
//!
//! Measured facts this follows (../shared/spec/wine-loader.md): Wine 8's services stop with
//! the session, so the prefix keeps `wineserver -p` running; the first process of the session
//! that starts the services writes their (and the drivers') debug output; a faulting driver
//! must not start the interactive crash debugger (AeDebug).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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
    // ../shared/spec/wine-pnp.md: the PnP and power routines Wine 8 only stubs.
    "PoRequestPowerIrp",
    "ObSetSecurityObjectByPointer",
    "IoInvalidateDeviceState",
    "IoReportTargetDeviceChange",
    "IoRequestDeviceEject",
    "IoOpenDeviceInterfaceRegistryKey",
    "IoGetDeviceInterfaceAlias",
    "IoWMIWriteEvent",
    "PoRegisterDeviceForIdleDetection",
    "IoSetCompletionRoutineEx",
];

/// Routines Wine 8 exports but that do nothing there, with what a driver sees (the patch leaves
/// these as they are; `cargo wdm check` warns about them).
pub const WINE_NO_OPS: &[(&str, &str)] = &[
    ("KeInsertQueueDpc", "the DPC never runs"),
    ("KfRaiseIrql", "there is no IRQL: everything runs at PASSIVE_LEVEL"),
    ("KeLowerIrql", "there is no IRQL: everything runs at PASSIVE_LEVEL"),
];

/// Debian's 64-bit Wine loader.
pub const WINE: &str = "/usr/lib/wine/wine64";
/// Debian's wineserver.
pub const WINESERVER: &str = "/usr/lib/wine/wineserver";
/// The target user-mode clients are built for (mingw links them).
pub const CLIENT_TARGET: &str = "x86_64-pc-windows-gnu";
/// The mingw C compiler and linker (package gcc-mingw-w64-x86-64).
pub const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc";

/// The Wine stubs the project's ntoskrnl patch (`wine/` in this crate) does not implement (the framework
/// never imports them; a driver that does cannot run under Wine 8 even patched). A sample whose
/// Wine stubs are all outside this list runs on the patched loader instead of being "not run".
pub const NOT_PATCHED: &[&str] = &[
    "ExAllocatePool2",
    "KeGetCurrentIrql",
    "IoAllocateDriverObjectExtension",
    "PoRequestPowerIrp",
    "ObSetSecurityObjectByPointer",
    "IoInvalidateDeviceState",
    "IoReportTargetDeviceChange",
    "IoRequestDeviceEject",
    "IoOpenDeviceInterfaceRegistryKey",
    "IoGetDeviceInterfaceAlias",
    "IoWMIWriteEvent",
    "PoRegisterDeviceForIdleDetection",
    "IoSetCompletionRoutineEx",
];

/// Wine stubs a driver may import and still run under Wine 8, because the import is reached only
/// from something Wine never sends, with that reason. The e2e loader choice and `cargo wdm run`
/// do not count them (a driver importing only these runs on stock Wine); `cargo wdm check`
/// still names them, with the reason, since a driver of its own could call them elsewhere.
///
/// - PoRequestPowerIrp: `wdm::pnp`'s power policy owner calls it only to turn a system power
///   IRP (S-IRP) into a device one (src/pnp/power.rs), and Wine 8 sends no S-IRPs
///   (../shared/spec/pnp-power.md §9.13); the simulator's Wine profile shows the path is never
///   taken (samples/toaster/tests/power.rs, `what_wine_sends_never_reaches_po_request_power_irp`).
pub const WINE_STUBS_UNREACHED: &[(&str, &str)] = &[(
    "PoRequestPowerIrp",
    "called by wdm::pnp only for a system power IRP, which Wine 8 never sends",
)];

/// The Wine stubs among `imports` that a run under Wine may reach: [`WINE_STUBS`] less
/// [`WINE_STUBS_UNREACHED`].
///
/// ```
/// let imports = ["IoCompleteRequest", "PoRequestPowerIrp", "IoStartPacket"];
/// assert_eq!(cargo_wdm::wine::stubs_reached(imports), ["IoStartPacket"]);
/// ```
pub fn stubs_reached<'a>(imports: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    imports
        .into_iter()
        .filter(|n| WINE_STUBS.contains(n) && !WINE_STUBS_UNREACHED.iter().any(|(u, _)| u == n))
        .collect()
}

/// A Wine prefix with a persistent server, removed on drop.
pub struct Prefix {
    dir: PathBuf,
    /// Where the services, and the drivers' DbgPrint, write (the session's first process).
    pub log: PathBuf,
}

/// Prefixes made by this process: each gets its own folder, so that two can live at once.
static PREFIXES: AtomicUsize = AtomicUsize::new(0);

impl Prefix {
    /// Runs `wine64 <args>` in the prefix under a timeout, output captured.
    pub fn wine(&self, timeout: Duration, args: &[&str]) -> Result<Output, String> {
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

    /// A fresh prefix under `work` (`work/prefix-<pid>[-n]`, its log `work/wine-<pid>[-n].log`),
    /// about 20 s; with `patched`, the prefix loads that ntoskrnl.exe instead of Wine's.
    pub fn create(work: &Path, patched: Option<&Patched>) -> Result<Self, String> {
        let n = PREFIXES.fetch_add(1, Ordering::Relaxed);
        let (dir, log) = match n {
            0 => (
                format!("prefix-{}", std::process::id()),
                format!("wine-{}.log", std::process::id()),
            ),
            n => (
                format!("prefix-{}-{n}", std::process::id()),
                format!("wine-{}-{n}.log", std::process::id()),
            ),
        };
        let root = work;
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

    /// The prefix's `C:`.
    pub fn drive_c(&self) -> PathBuf {
        self.dir.join("drive_c")
    }

    /// `sc create` then `sc start`, with retries: services.exe may still be settling after boot.
    pub fn start_service(&self, name: &str) -> Result<(), String> {
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
    pub fn stop_service(&self, name: &str) -> Result<(), String> {
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

impl Prefix {
    /// Copies a `.sys` into the prefix's `system32\drivers` as `<name>.sys`, creates the
    /// kernel service and starts it.
    pub fn install_driver(&self, sys: &Path, name: &str) -> Result<(), String> {
        let drivers = self.drive_c().join("windows/system32/drivers");
        std::fs::copy(sys, drivers.join(format!("{name}.sys"))).map_err(|e| format!("copying the image: {e}"))?;
        self.start_service(name)
    }

    /// The driver output (DbgPrint) written to the log so far.
    pub fn debug_output(&self) -> Vec<String> {
        debug_output(&std::fs::read_to_string(&self.log).unwrap_or_default())
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

/// The `bcryptprimitives.dll` stand-in Rust's standard library needs under Wine 8 (Wine 8 lacks
/// ProcessPrng, which std's random-number setup imports), built with mingw into `out`.
pub fn build_shim(out: &Path) -> Result<(), String> {
    let dir = out.parent().unwrap_or(Path::new("."));
    let source = dir.join("bcryptprimitives.c");
    std::fs::write(&source, include_str!("../wine/bcryptprimitives.c"))
        .map_err(|e| format!("{}: {e}", source.display()))?;
    let status = Command::new(MINGW_GCC)
        .args(["-shared", "-O2", "-o"])
        .arg(out)
        .arg(&source)
        .arg("-ladvapi32")
        .status()
        .map_err(|e| format!("{MINGW_GCC}: {e}"))?;
    let _ = std::fs::remove_file(&source);
    if status.success() {
        Ok(())
    } else {
        Err("building bcryptprimitives.dll failed".into())
    }
}

/// Builds a user-mode client (`package`'s `bin`, in the cargo project at `dir`) for
/// [`CLIENT_TARGET`], linked by mingw, into `target_dir`; returns the `.exe`.
///
/// ```no_run
/// let exe = cargo_wdm::wine::build_client(
///     std::path::Path::new("client"),
///     "my-driver-client",
///     "my-driver-client",
///     std::path::Path::new("target/wdm/client"),
/// )?;
/// # Ok::<(), String>(())
/// ```
pub fn build_client(dir: &Path, package: &str, bin: &str, target_dir: &Path) -> Result<PathBuf, String> {
    crate::tools::ensure_rust_target(CLIENT_TARGET)?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(dir)
        .args([
            "build",
            "--release",
            "-p",
            package,
            "--bin",
            bin,
            "--target",
            CLIENT_TARGET,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER", MINGW_GCC)
        // Host-side settings must not leak into the Windows build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if !status.success() {
        return Err("building the client failed".into());
    }
    Ok(target_dir.join(format!("{CLIENT_TARGET}/release/{bin}.exe")))
}

/// The installed Wine's version, as "Wine 8.0".
pub fn version() -> String {
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

/// The lines a driver printed with DbgPrint(Ex), from a prefix's log (Wine writes them on its
/// `warn+debugstr` channel as `...:vDbgPrintExWithPrefix <component>:<level>: <text>`).
///
/// ```
/// let log = "0140:warn:debugstr:vDbgPrintExWithPrefix 0000004d:00000008: startio: loaded\nother";
/// assert_eq!(cargo_wdm::wine::debug_output(log), ["startio: loaded"]);
/// ```
pub fn debug_output(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once("vDbgPrintExWithPrefix ")?;
            let (_, text) = rest.split_once(": ")?;
            Some(text.trim_end().to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every Wine stub the table treats as patched is exported by the patch (a `+@ stdcall`
    /// line in its ntoskrnl.exe.spec hunk), and the unpatched ones are not.
    #[test]
    fn the_patched_stubs_are_the_patch_s_exports() {
        let patch = crate::wine_patch::PATCH;
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

    /// An unreached stub is still a stub (the image check names it), and a driver importing
    /// only unreached ones needs neither the patch nor is refused.
    #[test]
    fn unreached_stubs_are_stubs_and_do_not_count() {
        for (name, why) in WINE_STUBS_UNREACHED {
            assert!(WINE_STUBS.contains(name), "{name} is a Wine stub");
            assert!(!why.is_empty());
        }
        assert!(stubs_reached(["PoRequestPowerIrp", "IoCompleteRequest"]).is_empty());
        assert_eq!(
            stubs_reached(["PoRequestPowerIrp", "IoCsqInsertIrpEx"]),
            ["IoCsqInsertIrpEx"]
        );
    }
}
