//! Developer commands for the wdm workspace. Run `cargo xtask help`.

mod bindings;
mod e2e;
mod miri;
mod new_user;
mod package;
mod samples;
mod sys;
mod wine_patch;
mod wine_pnp;
mod zero_cost;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const HELP: &str = "\
cargo xtask <command>

  samples    the main command: every sample built and checked as a .sys, its
             scenario on the simulator with a timeline, its simulator tests and
             stress run, and its end-to-end run under Wine; ends with a table;
             `samples toaster filter` runs those samples only
  sys        build every sample as a .sys (no WDK needed) and check each image:
             PE32+ AMD64, NATIVE subsystem, WDM-driver flag, checksum, imports only
             from ntoskrnl.exe/HAL.dll and only names those export
  e2e        run every sample .sys under Wine (installs wine64 and the mingw linker
             with apt if missing) and drive it from a user-mode client; samples
             importing routines Wine 8 only stubs are reported as not run; a PnP
             sample ([package.metadata.wdm.pnp]) is installed through SetupAPI and
             removed by DIF_REMOVE; `e2e minimal ioctl` runs those samples only
  test       everything CI runs: installs what is missing (rustup targets and
             components, Debian packages), then rustfmt, clippy -D warnings (host and
             kernel builds), the whole test suite, cargo doc, `samples` (with the Wine
             end-to-end runs) and `zero-cost`
  zero-cost  compare a driver written with raw wdm-sys calls and with wdm:
             instructions per IOCTL (callgrind) and .text size (needs valgrind)
  miri       the simulator-backed host tests under Miri, one test per Miri
             process (installs nightly's miri and rust-src if missing); exits 1 on
             any finding; not part of `test` (minutes to tens of minutes, see
             docs/miri.md); `cargo xtask miri wdm-sim` runs one package
  package    `cargo package` for the crates published to crates.io (wdm-sys,
             wdm-sim, wdm, and cargo-wdm once it exists), offline, each verified
             against the others; prints each .crate's size and file count; extra
             arguments go to cargo package (`--no-verify`)
  bindings   regenerate wdm-sys's bundled bindings and export lists (needs
             libclang-dev and mingw-w64-x86-64-dev)
  new-user   what a new user does, outside the workspace: cargo install
             cargo-wdm from this repository, cargo wdm new in a temporary folder,
             then cargo wdm test, build --release, check and run --client client
             (under Wine); then the same with cargo wdm new --pnp (run installs
             the driver on a root device through SetupAPI); prints each step's
             time and each flow's
  wine-patch the project's patched Wine ntoskrnl.exe (StartIo, device queues,
             IoCsq; e2e/wine): built from Debian's source of the installed wine64
             and cached in target/wine-ntoskrnl, then its C tests run in a fresh
             prefix; `cargo xtask wine-patch 5` runs them five times
  wine-pnp   cargo-wdm's PnP path under Wine with a C fixture (e2e/wine/pnp-fixture):
             the root device created and the driver installed through SetupAPI, the
             client on its device interface, DIF_REMOVE, sc stop, STOPPED, and the
             driver's PnP sequence checked; `wine-pnp filter` also runs the
             upper-filter experiment; not run without Wine unless WDM_REQUIRE_TOOLS
";

/// Debian packages the tests need: the DDK headers and libclang (the bindings freshness test)
/// and llvm (nm, for the export lists).
const TEST_PACKAGES: &[&str] = &["mingw-w64-x86-64-dev", "libclang-dev", "llvm", "valgrind"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo(root: &Path, args: &[&str]) -> Result<(), String> {
    println!("\n$ cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(args)
        .env("WDM_REQUIRE_TOOLS", "1")
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo {} failed", args.join(" ")))
    }
}

fn test(root: &Path) -> Result<(), String> {
    let start = Instant::now();
    e2e::REQUIRE.store(true, std::sync::atomic::Ordering::Relaxed);
    cargo_wdm::tools::ensure_rust_components(&["rust-src", "clippy", "rustfmt"])?;
    cargo_wdm::tools::ensure_rust_target(sys::TARGET)?;
    cargo_wdm::tools::ensure_rust_target("x86_64-pc-windows-gnu")?;
    cargo_wdm::tools::ensure_packages(TEST_PACKAGES)?;
    cargo(root, &["fmt", "--all", "--check"])?;
    cargo(
        root,
        &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
    )?;
    // The framework and the samples as they build for the kernel (the bundled backend: the
    // allocator, panic handler and SEH-guarded user copy only exist there).
    let mut kernel_clippy = vec!["clippy", "--target", sys::TARGET, "-p", "wdm", "-p", "wdm-sys"];
    let samples = sys::samples(root)?;
    for name in &samples {
        kernel_clippy.extend(["-p", name.as_str()]);
    }
    kernel_clippy.extend(["--", "-D", "warnings"]);
    cargo(root, &kernel_clippy)?;
    cargo(root, &["test", "--workspace"])?;
    // The API documentation builds without a warning (broken links, private items).
    println!("\n$ RUSTDOCFLAGS=-D warnings cargo doc --no-deps -p wdm -p wdm-sim -p wdm-sys -p cargo-wdm");
    let doc = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args([
            "doc",
            "--no-deps",
            "-p",
            "wdm",
            "-p",
            "wdm-sim",
            "-p",
            "wdm-sys",
            "-p",
            "cargo-wdm",
        ])
        .env("RUSTDOCFLAGS", "-D warnings")
        .status()
        .map_err(|e| format!("cargo doc: {e}"))?;
    if !doc.success() {
        return Err("cargo doc failed".into());
    }
    package::command(root, &[])?;
    // The simulator's round-trip benchmark: prints the figure, and fails if anything is reported.
    cargo(root, &["bench", "-p", "wdm-sim", "--bench", "roundtrip"])?;
    // The Windows-only client is linted for its target too.
    cargo(
        root,
        &[
            "clippy",
            "-p",
            "wdm-e2e-client",
            "--target",
            "x86_64-pc-windows-gnu",
            "--target-dir",
            "target/e2e/build",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // Every sample as a .sys, on the simulator, and end to end under Wine.
    samples::command(root, &[])?;
    // What a new user does outside the workspace: install cargo-wdm, new, test, build, check, run;
    // then new --pnp and the same.
    new_user::command(root)?;
    zero_cost::command(root)?;
    println!("\nall checks passed in {:.0} s", start.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root();
    let result = match args.first().map(String::as_str) {
        Some("bindings") => bindings::command(&root),
        Some("sys") => sys::command(&root),
        Some("e2e") => e2e::command(&root, &args[1..]),
        Some("wine-patch") => wine_patch::command(&root, &args[1..]),
        Some("wine-pnp") => wine_pnp::command(&root, &args[1..]),
        Some("miri") => miri::command(&root, &args[1..]),
        Some("package") => package::command(&root, &args[1..]),
        Some("samples") => samples::command(&root, &args[1..]),
        Some("new-user") => new_user::command(&root),
        Some("test") => test(&root),
        Some("zero-cost") => zero_cost::command(&root),
        Some("help" | "--help" | "-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
