//! Building a driver crate as a `.sys` without the WDK (`cargo wdm build`): target
//! `x86_64-pc-windows-msvc`, linked by rust-lld in lld-link mode with the flags a WDM driver
//! needs, then every image checked ([`crate::image`]).
//!
//! The driver is the crate's `bin` (a `cdylib` would be flagged as a DLL and export its entry
//! point). The flags go on the command line, not into `.cargo/config.toml`, so the WDK path
//! (`cargo make` on Windows) is untouched. Kernel code cannot unwind: the build sets
//! `profile.release.panic = "abort"` on the command line, which overrides the manifest, the
//! environment and config files, so no setting anywhere can make a driver image unwind (and
//! [`check_manifest`] tells the user when their own profile says otherwise, because their
//! host builds of the crate would differ).

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
/// # let request = cargo_wdm::sys::Request {
/// #     dir: ".".into(),
/// #     target_dir: "target/wdm".into(),
/// #     out_dir: "target/wdm/drivers".into(),
/// #     drivers: vec![("my-driver".into(), "my_driver".into())],
/// #     release: true,
/// # };
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
/// # let request = cargo_wdm::sys::Request {
/// #     dir: ".".into(),
/// #     target_dir: "target/wdm".into(),
/// #     out_dir: "target/wdm/drivers".into(),
/// #     drivers: vec![("my-driver".into(), "my_driver".into())],
/// #     release: true,
/// # };
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
        .args([
            "--config",
            "profile.release.panic=\"abort\"",
            "--config",
            "profile.dev.panic=\"abort\"",
        ])
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

/// A driver crate's package name and its driver binary, read from its `Cargo.toml` (a TOML
/// parser: comments, quotes and dotted keys are what cargo reads): the package's name, and
/// its first `[[bin]]`'s name (the package's name when it has none but `src/main.rs`).
///
/// ```
/// let toml = "[package] # the driver\nname = 'my-driver' # kebab\n\n[[bin]]\nname = \"mydrv\"\npath = \"src/main.rs\"\n";
/// assert_eq!(cargo_wdm::sys::driver_of(toml).unwrap(), ("my-driver".to_owned(), "mydrv".to_owned()));
/// let cdylib = "[package]\nname = \"k\"\n[lib]\ncrate-type = [\"cdylib\"]\n";
/// assert!(cargo_wdm::sys::driver_of(cdylib).unwrap_err().contains("[[bin]]"));
/// ```
pub fn driver_of(manifest: &str) -> Result<(String, String), String> {
    let doc: toml::Table = manifest.parse().map_err(|e| format!("Cargo.toml: {e}"))?;
    let package = doc
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str)
        .ok_or("Cargo.toml has no [package] name: run cargo wdm in a driver crate's folder")?
        .to_owned();
    let bin = doc
        .get("bin")
        .and_then(toml::Value::as_array)
        .and_then(|bins| bins.first())
        .and_then(|b| b.get("name"))
        .and_then(toml::Value::as_str)
        .map(str::to_owned);
    let is_cdylib = doc
        .get("lib")
        .and_then(|l| l.get("crate-type"))
        .and_then(toml::Value::as_array)
        .is_some_and(|t| t.iter().any(|v| v.as_str() == Some("cdylib")));
    match bin {
        Some(bin) => Ok((package, bin)),
        None if is_cdylib => Err(format!(
            "{package} builds its driver as a cdylib (the windows-drivers-rs layout): cargo wdm builds the \
             driver from a binary target; add a [[bin]] with the driver's entry (see cargo wdm new), or use \
             cargo wdm build --wdk on Windows with the WDK"
        )),
        None => Ok((package.clone(), package)),
    }
}

/// Checks that a manifest does not make the profile a driver is built with unwind: its
/// `panic` must be `"abort"` where it is set. The build forces it anyway (see the module
/// docs); this tells the user that their own manifest disagrees.
///
/// ```
/// use cargo_wdm::sys::check_manifest;
/// assert!(check_manifest("[profile.release] # ship\npanic = 'abort' # kernel\n", true).is_ok());
/// assert!(check_manifest("[profile.release]\nlto = true\n", true).unwrap_err().contains("panic = \"abort\""));
/// assert!(check_manifest("[profile]\nrelease = { panic = \"unwind\" }\n", true).is_err());
/// ```
pub fn check_manifest(manifest: &str, release: bool) -> Result<(), String> {
    let doc: toml::Table = manifest.parse().map_err(|e| format!("Cargo.toml: {e}"))?;
    let profile = if release { "release" } else { "dev" };
    let panic = doc
        .get("profile")
        .and_then(|p| p.get(profile))
        .and_then(|p| p.get("panic"))
        .and_then(toml::Value::as_str);
    match panic {
        Some("abort") => Ok(()),
        _ => Err(format!(
            "the {profile} profile should abort on panic (kernel code cannot unwind): add\n\n    [profile.{profile}]\n    \
             panic = \"abort\"\n\nto the workspace root's Cargo.toml (cargo wdm build forces it for the driver image, \
             but the crate's other builds follow the manifest)"
        )),
    }
}

/// The folder of `dir`'s workspace root manifest, as cargo finds it (`cargo locate-project
/// --workspace`: `[workspace]` tables, `exclude`, `package.workspace` all count).
///
/// ```
/// let root = cargo_wdm::sys::workspace_root(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
/// assert!(root.join("Cargo.toml").is_file() && root.join("crates/cargo-wdm").is_dir());
/// ```
pub fn workspace_root(dir: &Path) -> Result<PathBuf, String> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(dir)
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .output()
        .map_err(|e| format!("cargo locate-project: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let manifest = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    manifest
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("cargo locate-project gave {}", manifest.display()))
}
