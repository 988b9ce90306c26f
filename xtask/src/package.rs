//! `cargo xtask package`: `cargo package` for every crate meant for crates.io, as a test that
//! they can be published (their manifests, READMEs and file lists), without publishing.
//!
//! The crates are packaged in one `cargo package -p ... -p ...` invocation: `wdm-sim` depends
//! on `wdm-sys` and `wdm` on both by version, and none of them is on crates.io yet, so packaged
//! alone each would fail to resolve its dependencies. Packaged together, cargo (1.90 and later)
//! resolves them through a temporary local registry of the packages it has just made, and
//! verifies each (builds it from its `.crate`) against the others. `--offline`: the workspace's
//! dependencies are already in cargo's cache once it has been built (`cargo xtask test` runs
//! this after the test suite), and packaging needs nothing else. `--allow-dirty`: the check is
//! of the files on disk, committed or not.
//!
//! Extra arguments go to `cargo package` (`cargo xtask package --no-verify` skips building the
//! packages, for a machine without every dependency cached).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The crates published to crates.io, in dependency order. `cargo-wdm` only once its folder
/// exists, so the command works before and after it joins the workspace.
fn publishable(root: &Path) -> Vec<&'static str> {
    let mut crates = vec!["wdm-sys", "wdm-sim", "wdm"];
    if root.join("crates/cargo-wdm/Cargo.toml").is_file() {
        crates.push("cargo-wdm");
    }
    crates
}

/// What cargo said it packaged: name, version, number of files.
#[derive(Debug, PartialEq)]
struct Packaged {
    name: String,
    version: String,
    files: usize,
}

/// Reads cargo's `Packaging <name> v<version> (<path>)` and `Packaged <n> files, ...` lines.
fn parse(lines: &[String]) -> Vec<Packaged> {
    let mut packaged = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in lines {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("Packaging") => {
                let name = words.next().unwrap_or_default();
                let version = words.next().and_then(|v| v.strip_prefix('v')).unwrap_or_default();
                current = Some((name.to_owned(), version.to_owned()));
            }
            Some("Packaged") => {
                if let (Some((name, version)), Some(Ok(files))) = (current.take(), words.next().map(str::parse)) {
                    packaged.push(Packaged { name, version, files });
                }
            }
            _ => {}
        }
    }
    packaged
}

/// Removes what earlier runs left of these crates in cargo's caches for its temporary local
/// registries (`$CARGO_HOME/registry/{src,cache}/-<hash>/<crate>-<version>`). Cargo treats a
/// registry version as immutable, so a stale copy (from a run before the sources changed, with
/// the same version number) would be verified instead of the fresh package.
fn forget_earlier_packages(crates: &[&str]) {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let Some(home) = home else { return };
    for kind in ["src", "cache"] {
        let Ok(registries) = std::fs::read_dir(home.join("registry").join(kind)) else {
            continue;
        };
        for registry in registries.flatten() {
            // Temporary local registries have names starting with `-`; crates.io's do not.
            if !registry.file_name().to_string_lossy().starts_with('-') {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(registry.path()) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let ours = crates.iter().any(|c| {
                    name.strip_prefix(&format!("{c}-"))
                        .is_some_and(|rest| rest.starts_with(|ch: char| ch.is_ascii_digit()))
                });
                if ours {
                    let path = entry.path();
                    let _ = if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                }
            }
        }
    }
}

/// `cargo xtask package [cargo package args]`.
pub fn command(root: &Path, extra: &[String]) -> Result<(), String> {
    let crates = publishable(root);
    forget_earlier_packages(&crates);

    let mut args = vec!["package".to_owned()];
    for name in &crates {
        args.extend(["-p".to_owned(), (*name).to_owned()]);
    }
    args.extend(["--offline", "--allow-dirty"].map(str::to_owned));
    // A target folder of its own, emptied first: cargo reuses a compiled registry crate of the
    // same version without looking at its sources, so a build of an earlier package would be
    // verified against instead of this one.
    let build = root.join("target/package-verify");
    let _ = std::fs::remove_dir_all(&build);
    args.extend(["--target-dir".to_owned(), build.display().to_string()]);
    args.extend(extra.iter().cloned());
    println!("\n$ cargo {}", args.join(" "));
    let mut child = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(&args)
        // Plain lines to read back (a CI's CARGO_TERM_COLOR=always would colour them).
        .env("CARGO_TERM_COLOR", "never")
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cargo package: {e}"))?;
    // Cargo reports on stderr: passed through as it comes, and kept for the summary.
    let mut lines = Vec::new();
    for line in BufReader::new(child.stderr.take().expect("piped")).lines() {
        let line = line.map_err(|e| format!("cargo package: {e}"))?;
        eprintln!("{line}");
        lines.push(line);
    }
    let status = child.wait().map_err(|e| format!("cargo package: {e}"))?;
    let packaged = parse(&lines);
    // The .crate files are in the --target-dir given above.
    let dir = build.clone();
    println!(
        "\n{:<10} {:<8} {:>6} {:>10}",
        "crate", "version", "files", ".crate bytes"
    );
    let mut missing = Vec::new();
    for name in &crates {
        let Some(p) = packaged.iter().find(|p| p.name == *name) else {
            println!("{name:<10} {:<8} {:>6} {:>10}", "-", "-", "not packaged");
            missing.push(*name);
            continue;
        };
        let file = dir.join("package").join(format!("{}-{}.crate", p.name, p.version));
        let size = std::fs::metadata(&file)
            .map_err(|e| format!("{}: {e}", file.display()))?
            .len();
        println!(
            "{:<10} {:<8} {:>6} {:>10} ({:.1} KiB)",
            p.name,
            p.version,
            p.files,
            size,
            size as f64 / 1024.0
        );
    }
    if !status.success() {
        return Err(format!("cargo package failed (not packaged: {})", missing.join(", ")));
    }
    if !missing.is_empty() {
        return Err(format!("cargo package did not report packaging {}", missing.join(", ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_cargo_packaged() {
        let lines: Vec<String> = [
            "   Packaging wdm-sys v0.1.0 (/w/crates/wdm-sys)",
            "    Packaged 21 files, 624.6KiB (88.4KiB compressed)",
            "   Packaging wdm-sim v0.1.0 (/w/crates/wdm-sim)",
            "warning: ignoring test `docs` as `tests/docs.rs` is not included in the published package",
            "    Packaged 45 files, 399.9KiB (101.9KiB compressed)",
            "   Packaging wdm v0.2.0 (/w)",
            "error: failed to prepare local package for uploading",
        ]
        .map(str::to_owned)
        .to_vec();
        let p = |name: &str, version: &str, files| Packaged {
            name: name.into(),
            version: version.into(),
            files,
        };
        assert_eq!(parse(&lines), [p("wdm-sys", "0.1.0", 21), p("wdm-sim", "0.1.0", 45)]);
    }

    #[test]
    fn cargo_wdm_is_published_once_it_exists() {
        let dir = std::env::temp_dir().join(format!("wdm-xtask-package-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("crates/cargo-wdm")).unwrap();
        assert_eq!(publishable(&dir), ["wdm-sys", "wdm-sim", "wdm"]);
        std::fs::write(dir.join("crates/cargo-wdm/Cargo.toml"), "").unwrap();
        assert_eq!(publishable(&dir), ["wdm-sys", "wdm-sim", "wdm", "cargo-wdm"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
