//! Building a driver crate as a `.sys` without the WDK (`cargo wdm build`): target
//! `x86_64-pc-windows-msvc`, linked by rust-lld in lld-link mode with the flags a WDM driver
//! needs, then every image checked ([`crate::image`]).
//!
//! The driver is the crate's `bin` (a `cdylib` would be flagged as a DLL and export its entry
//! point). The flags go on the command line, not into `.cargo/config.toml`, so the WDK path
//! (`cargo make` on Windows) is untouched. Kernel code cannot unwind: the crate's release
//! profile must say `panic = "abort"`, which [`check_manifest`] verifies.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::image::{Exports, Verdict, check};

/// The target every driver is built for.
pub const TARGET: &str = "x86_64-pc-windows-msvc";

/// Linker flags for a WDM driver.
pub const LINK_ARGS: &[&str] = &[
    "/DRIVER:WDM",
    "/SUBSYSTEM:NATIVE",
    "/ENTRY:DriverEntry",
    "/NODEFAULTLIB",
    "/OPT:REF,ICF",
    "/MANIFEST:NO",
    // Writes a correct PE checksum, which Windows checks for drivers.
    "/RELEASE",
];

/// What to build.
///
/// ```
/// let request = cargo_wdm::sys::Request {
///     dir: ".".into(),
///     target_dir: "target/sys".into(),
///     out_dir: "target/sys/drivers".into(),
///     drivers: vec![("my-driver".into(), "my-driver".into())],
///     release: true,
/// };
/// assert_eq!(request.drivers.len(), 1);
/// ```
pub struct Request {
    /// Where cargo runs (the crate, or a workspace holding the drivers).
    pub dir: PathBuf,
    /// The cargo target directory for the kernel build.
    pub target_dir: PathBuf,
    /// Where the `.sys` files go.
    pub out_dir: PathBuf,
    /// `(package, bin)` of each driver.
    pub drivers: Vec<(String, String)>,
    /// The release profile (the one a driver ships with) or dev.
    pub release: bool,
}

/// One built driver.
///
/// ```no_run
/// # let request: cargo_wdm::sys::Request = todo!();
/// for built in cargo_wdm::sys::build(&request)? {
///     println!("{} {} bytes: {}", built.path.display(), built.size, built.verdict.summary());
/// }
/// # Ok::<(), String>(())
/// ```
pub struct Built {
    /// The bin's name.
    pub name: String,
    /// The `.sys`.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The image checks' verdict.
    pub verdict: Verdict,
}

/// The rustflags of the kernel build, as a TOML array for `--config`.
fn rustflags() -> String {
    let mut flags = vec!["-C".to_owned(), "target-feature=+crt-static".to_owned()];
    for arg in LINK_ARGS {
        flags.push("-C".into());
        flags.push(format!("link-arg={arg}"));
    }
    let quoted: Vec<String> = flags.iter().map(|f| format!("\"{f}\"")).collect();
    format!("[{}]", quoted.join(","))
}

/// Builds the drivers and checks every image. Errors say what failed (the cargo build, or a
/// missing image).
///
/// ```no_run
/// # let request: cargo_wdm::sys::Request = todo!();
/// let built = cargo_wdm::sys::build(&request)?;
/// assert!(built.iter().all(|b| b.verdict.ok()));
/// # Ok::<(), String>(())
/// ```
pub fn build(request: &Request) -> Result<Vec<Built>, String> {
    crate::tools::ensure_rust_target(TARGET)?;
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&request.dir).args(["build", "--target", TARGET]);
    if request.release {
        cmd.arg("--release");
    }
    cmd.arg("--target-dir")
        .arg(&request.target_dir)
        .args(["--config", &format!("target.{TARGET}.linker=\"rust-lld\"")])
        .args(["--config", &format!("target.{TARGET}.rustflags={}", rustflags())])
        // Host-side settings must not leak into the driver build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    for (package, bin) in &request.drivers {
        cmd.args(["-p", package, "--bin", bin]);
    }
    let status = cmd.status().map_err(|e| format!("cargo: {e}"))?;
    if !status.success() {
        return Err("the driver build failed (cargo's messages above say why)".into());
    }
    let exports = Exports::bundled()?;
    std::fs::create_dir_all(&request.out_dir).map_err(|e| format!("{}: {e}", request.out_dir.display()))?;
    let profile = if request.release { "release" } else { "debug" };
    let mut built = Vec::new();
    for (_, bin) in &request.drivers {
        let exe = request.target_dir.join(format!("{TARGET}/{profile}/{bin}.exe"));
        let sys = request.out_dir.join(format!("{bin}.sys"));
        std::fs::copy(&exe, &sys).map_err(|e| format!("{}: {e}", exe.display()))?;
        let data = std::fs::read(&sys).map_err(|e| e.to_string())?;
        built.push(Built {
            name: bin.clone(),
            size: data.len() as u64,
            verdict: check(&data, &exports),
            path: sys,
        });
    }
    Ok(built)
}

/// A driver crate's package name and its driver binary, read from its `Cargo.toml`: the
/// `[package]` name, and the first `[[bin]]`'s name (the package's name without one).
///
/// ```
/// let toml = "[package]\nname = \"my-driver\"\n\n[[bin]]\nname = \"mydrv\"\npath = \"src/main.rs\"\n";
/// assert_eq!(cargo_wdm::sys::driver_of(toml).unwrap(), ("my-driver".to_owned(), "mydrv".to_owned()));
/// ```
pub fn driver_of(manifest: &str) -> Result<(String, String), String> {
    let mut section = String::new();
    let (mut package, mut bin) = (None, None);
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
            continue;
        }
        let Some(value) = line
            .strip_prefix("name")
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_owned())
        else {
            continue;
        };
        match section.as_str() {
            "[package]" if package.is_none() => package = Some(value),
            "[[bin]]" if bin.is_none() => bin = Some(value),
            _ => {}
        }
    }
    let package = package.ok_or("Cargo.toml has no [package] name: is this a driver crate?")?;
    let bin = bin.unwrap_or_else(|| package.clone());
    Ok((package, bin))
}

/// Checks that a manifest (the crate's, or its workspace root's) makes the profile a driver is
/// built with abort on panic, as kernel code must: `panic = "abort"` under `[profile.release]`
/// (or `[profile.dev]` for a dev build).
///
/// ```
/// use cargo_wdm::sys::check_manifest;
/// assert!(check_manifest("[profile.release]\npanic = \"abort\"\n", true).is_ok());
/// assert!(check_manifest("[profile.release]\nlto = true\n", true).unwrap_err().contains("panic = \"abort\""));
/// assert!(check_manifest("[profile.release]\npanic = \"abort\"\n", false).is_err());
/// ```
pub fn check_manifest(manifest: &str, release: bool) -> Result<(), String> {
    let profile = if release { "[profile.release]" } else { "[profile.dev]" };
    let mut section = "";
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == profile && line.replace(' ', "") == "panic=\"abort\"" {
            return Ok(());
        }
    }
    Err(format!(
        "the {profile} profile must abort on panic (kernel code cannot unwind): add\n\n    {profile}\n    panic = \"abort\"\n\nto Cargo.toml (of the workspace root, if the crate is in a workspace)"
    ))
}

/// The folder holding `start`'s workspace root manifest (the nearest `Cargo.toml` with a
/// `[workspace]` table above or at `start`), or `start` itself when there is none.
///
/// ```
/// let root = cargo_wdm::sys::workspace_root(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
/// assert!(root.join("Cargo.toml").is_file());
/// ```
pub fn workspace_root(start: &Path) -> PathBuf {
    let mut dir = Some(start);
    while let Some(d) = dir {
        if std::fs::read_to_string(d.join("Cargo.toml")).is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]")) {
            return d.to_path_buf();
        }
        dir = d.parent();
    }
    start.to_path_buf()
}
