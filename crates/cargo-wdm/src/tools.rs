//! Installing what the commands need on a fresh machine: rustup targets and components, and
//! Debian packages (when running as root with apt, as CI does; otherwise the error says what to
//! install).

use std::process::Command;

/// The toolchain cargo runs with: rustup's proxies tell the tools they start in
/// `RUSTUP_TOOLCHAIN` (a `rust-toolchain.toml`, an override or the default), else rustup's
/// active toolchain.
///
/// ```no_run
/// println!("{}", cargo_wdm::tools::toolchain());
/// ```
pub fn toolchain() -> String {
    if let Ok(tc) = std::env::var("RUSTUP_TOOLCHAIN")
        && !tc.is_empty()
    {
        return tc;
    }
    rustup(&["show", "active-toolchain"])
        .ok()
        .and_then(|out| out.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "stable".into())
}

fn rustup(args: &[&str]) -> Result<String, String> {
    let out = Command::new("rustup")
        .args(args)
        .output()
        .map_err(|e| format!("rustup: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "rustup {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Adds a rustup target to the toolchain if it is missing (some machines set
/// `RUSTUP_AUTO_INSTALL=0`, so nothing installs it implicitly).
///
/// ```no_run
/// cargo_wdm::tools::ensure_rust_target("x86_64-pc-windows-msvc")?;
/// # Ok::<(), String>(())
/// ```
pub fn ensure_rust_target(target: &str) -> Result<(), String> {
    let tc = toolchain();
    if rustup(&["target", "list", "--installed", "--toolchain", &tc])?
        .lines()
        .any(|l| l.trim() == target)
    {
        return Ok(());
    }
    println!("installing the Rust target {target} for {tc}");
    rustup(&["target", "add", target, "--toolchain", &tc]).map(drop)
}

/// Adds rustup components to the toolchain if missing.
///
/// ```no_run
/// cargo_wdm::tools::ensure_rust_components(&["rust-src"])?;
/// # Ok::<(), String>(())
/// ```
pub fn ensure_rust_components(components: &[&str]) -> Result<(), String> {
    let tc = toolchain();
    let installed = rustup(&["component", "list", "--installed", "--toolchain", &tc])?;
    for c in components {
        if !installed
            .lines()
            .any(|l| l.starts_with(&format!("{c}-")) || l.trim() == *c)
        {
            println!("installing the Rust component {c} for {tc}");
            rustup(&["component", "add", c, "--toolchain", &tc])?;
        }
    }
    Ok(())
}

/// Whether a Debian package is installed.
///
/// ```no_run
/// if !cargo_wdm::tools::has_package("wine64") { println!("no Wine"); }
/// ```
pub fn has_package(name: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", name])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Installs missing Debian packages with apt-get (needs root; otherwise the error names the
/// packages to install by hand).
///
/// ```no_run
/// cargo_wdm::tools::ensure_packages(&["wine64"])?;
/// # Ok::<(), String>(())
/// ```
pub fn ensure_packages(packages: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !has_package(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!("installing Debian packages: {}", missing.join(" "));
    let run = |args: &[&str]| -> Result<(), String> {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| format!("apt-get: {e} (install {} by hand)", missing.join(" ")))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("apt-get {} failed", args.join(" ")))
        }
    };
    run(&["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    run(&args)
}
