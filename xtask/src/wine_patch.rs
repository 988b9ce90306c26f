//! `cargo xtask wine-patch`: the tests of the project's Wine ntoskrnl patch (a C driver and
//! client in `e2e/wine/tests`, run under the patched Wine). The patch itself, its build, cache
//! and installation live in cargo-wdm (`cargo_wdm::wine_patch`, with the patch in
//! `crates/cargo-wdm/wine/`), which `cargo wdm run` and `cargo xtask e2e` share.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cargo_wdm::wine::{MINGW_GCC, Prefix};
pub use cargo_wdm::wine_patch::Patched;

const TESTS: &str = "e2e/wine/tests";
const CACHE: &str = "target/wine-ntoskrnl";
/// The service (and .sys) name of the test driver.
const TEST_DRIVER: &str = "siotest";

/// The patched ntoskrnl.exe, from the repository's cache (`target/wine-ntoskrnl`).
pub fn patched_ntoskrnl(root: &Path) -> Result<Patched, String> {
    cargo_wdm::wine_patch::patched_ntoskrnl(&root.join(CACHE))
}

/// Builds the C test driver and client (mingw-w64 with its DDK headers).
fn build_tests(root: &Path) -> Result<(PathBuf, PathBuf), String> {
    cargo_wdm::tools::ensure_packages(&["gcc-mingw-w64-x86-64", "mingw-w64-x86-64-dev"])?;
    let src = root.join(TESTS);
    let out = root.join(CACHE).join("tests");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let driver = out.join(format!("{TEST_DRIVER}.sys"));
    let client = out.join(format!("{TEST_DRIVER}.exe"));
    let common = ["-O2", "-Wall", "-Wextra", "-Werror"];
    let gcc = |args: &[&str], what: &str| -> Result<(), String> {
        let status = Command::new(MINGW_GCC)
            .current_dir(&src)
            .args(common)
            .args(args)
            .status()
            .map_err(|e| format!("{MINGW_GCC}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("building {what} failed"))
        }
    };
    // A native-subsystem DLL whose entry point is DriverEntry, importing only ntoskrnl.exe.
    let driver_out = driver.to_string_lossy().into_owned();
    gcc(
        &[
            "-Wno-unused-parameter",
            "-I/usr/share/mingw-w64/include/ddk",
            "-shared",
            "-nostdlib",
            "-nostartfiles",
            "-Wl,--subsystem,native",
            "-Wl,--entry,DriverEntry",
            "-o",
            &driver_out,
            "siotest_drv.c",
            "-lntoskrnl",
            "-lgcc",
        ],
        "the test driver",
    )?;
    let client_out = client.to_string_lossy().into_owned();
    gcc(&["-o", &client_out, "siotest.c"], "the test client")?;
    Ok((driver, client))
}

/// Runs the patch's tests: builds the C test driver and client (`e2e/wine/tests`), makes a
/// fresh prefix with the patched ntoskrnl.exe, installs the driver as a demand-start kernel
/// service, runs the client, stops the service. Returns the client's summary line
/// ("N passed, M failed") when every check passed.
pub fn run_tests(root: &Path, patched: &Patched) -> Result<String, String> {
    cargo_wdm::tools::ensure_packages(&["wine64"])?;
    let (driver, client) = build_tests(root)?;
    let prefix = Prefix::create(&root.join("target/e2e"), Some(patched))?;
    let drivers = prefix.drive_c().join("windows/system32/drivers");
    std::fs::copy(&driver, drivers.join(format!("{TEST_DRIVER}.sys")))
        .map_err(|e| format!("copying the driver: {e}"))?;
    let bin = prefix.drive_c().join(TEST_DRIVER);
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    std::fs::copy(&client, bin.join(format!("{TEST_DRIVER}.exe"))).map_err(|e| format!("copying the client: {e}"))?;
    prefix.start_service(TEST_DRIVER)?;
    let exe = format!(r"C:\{TEST_DRIVER}\{TEST_DRIVER}.exe");
    let run = prefix.wine(Duration::from_secs(180), &[&exe]);
    let _ = prefix.wine(Duration::from_secs(60), &["sc", "stop", TEST_DRIVER]);
    let out = run?;
    let stdout = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    for line in stdout.lines() {
        println!("    {line}");
    }
    let summary = stdout.lines().last().unwrap_or("").trim().to_owned();
    match out.status.code() {
        Some(0) if summary.ends_with(" 0 failed") => Ok(summary),
        Some(124) => Err(format!(
            "the client timed out after 180 s; see {}",
            prefix.log.display()
        )),
        _ if summary.contains(" passed, ") => Err(summary),
        _ => Err(format!(
            "the client exited with {} without a summary; see {}",
            out.status,
            prefix.log.display()
        )),
    }
}

/// `cargo xtask wine-patch [RUNS]`: gets the patched ntoskrnl.exe (from the cache when it can)
/// and runs the patch's tests, RUNS times (default 1), each in a fresh prefix.
pub fn command(root: &Path, args: &[String]) -> Result<(), String> {
    let runs: usize = match args.first() {
        None => 1,
        Some(n) => n
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("wine-patch: RUNS must be a positive number, not `{n}`"))?,
    };
    let patched = patched_ntoskrnl(root)?;
    println!(
        "wine-patch: {} for wine64 {} (patch {}), {} in {:.1} s",
        patched.ntoskrnl.display(),
        patched.wine_version,
        &patched.patch_hash[..16],
        if patched.from_cache { "from the cache" } else { "built" },
        patched.seconds
    );
    let mut failures = 0;
    for run in 1..=runs {
        let started = Instant::now();
        println!("\nwine-patch: run {run} of {runs}: fresh prefix, {TEST_DRIVER}.sys, {TEST_DRIVER}.exe");
        match run_tests(root, &patched) {
            Ok(summary) => println!(
                "wine-patch: run {run}: {summary} ({:.0} s)",
                started.elapsed().as_secs_f64()
            ),
            Err(e) => {
                failures += 1;
                println!("wine-patch: run {run}: FAILED: {e}");
            }
        }
    }
    if failures == 0 {
        Ok(())
    } else {
        Err(format!("{failures} of {runs} runs of the patch's tests failed"))
    }
}
