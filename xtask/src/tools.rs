//! Installing what the commands need on a fresh machine: rustup targets and components, and
//! Debian packages (when running as root with apt, as CI does).

use std::process::Command;

/// The toolchain `rust-toolchain.toml` pins.
pub fn toolchain() -> String {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../rust-toolchain.toml");
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("channel")
                    .map(|v| v.trim_start_matches([' ', '=']).trim_matches('"').to_owned())
            })
        })
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

/// Adds a rustup target to the pinned toolchain if it is missing (these machines set
/// `RUSTUP_AUTO_INSTALL=0`, so nothing installs it implicitly).
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

/// Adds rustup components to the pinned toolchain if missing.
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
pub fn has_package(name: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", name])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Installs missing Debian packages with apt-get (needs root).
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
