//! `cargo xtask new-user`: what a new user does, on this machine, outside the workspace:
//! installs `cargo-wdm` from the repository, makes a driver crate with `cargo wdm new` in a
//! temporary folder, runs its tests, builds and checks its `.sys`, and runs it under Wine with
//! the template's client. Every step must pass; the table gives each step's time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The crate the new user makes.
const NAME: &str = "hello-driver";

/// A command run as a user would type it: no cargo variables of the outer build, the
/// installed `cargo-wdm` first on PATH.
fn user_command(program: &str, bin: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if (key.starts_with("CARGO_") && key != "CARGO_HOME") || key == "RUSTFLAGS" || key == "CARGO" {
            cmd.env_remove(&key);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    cmd.env(
        "PATH",
        std::env::join_paths(paths).expect("PATH entries without separators"),
    );
    cmd
}

/// Runs one step, printing its command, and returns its time.
fn step(what: &str, mut cmd: Command, times: &mut Vec<(String, f64)>) -> Result<(), String> {
    println!("\n$ {what}");
    let started = Instant::now();
    let status = cmd.status().map_err(|e| format!("{what}: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    times.push((what.to_owned(), seconds));
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{what}` failed ({status}) after {seconds:.0} s"))
    }
}

/// `cargo xtask new-user`.
pub fn command(root: &Path) -> Result<(), String> {
    let work = std::env::temp_dir().join(format!("wdm-new-user-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let install = root.join("target/new-user/cargo-wdm");
    let bin: PathBuf = install.join("bin");
    let mut times = Vec::new();
    let result = (|| {
        let mut cmd = user_command("cargo", &bin, root);
        cmd.args(["install", "--locked", "--path", "crates/cargo-wdm", "--root"])
            .arg(&install)
            .args(["--target-dir", "target/new-user/build"]);
        step("cargo install --path crates/cargo-wdm", cmd, &mut times)?;
        let mut cmd = user_command("cargo", &bin, &work);
        cmd.args(["wdm", "new", NAME]);
        step(&format!("cargo wdm new {NAME}"), cmd, &mut times)?;
        let dir = work.join(NAME);
        let mut cmd = user_command("cargo", &bin, &dir);
        cmd.args(["wdm", "test"]);
        step("cargo wdm test", cmd, &mut times)?;
        let mut cmd = user_command("cargo", &bin, &dir);
        cmd.args(["wdm", "build", "--release"]);
        step("cargo wdm build --release", cmd, &mut times)?;
        // The image `cargo wdm build` made (named after the template's driver binary).
        let sys = std::fs::read_dir(dir.join("target/wdm/drivers"))
            .map_err(|e| format!("target/wdm/drivers: {e}"))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.ends_with(".sys"))
            .map(|n| format!("target/wdm/drivers/{n}"))
            .ok_or("cargo wdm build made no .sys")?;
        let mut cmd = user_command("cargo", &bin, &dir);
        cmd.args(["wdm", "check", &sys]);
        step(&format!("cargo wdm check {sys}"), cmd, &mut times)?;
        let mut cmd = user_command("cargo", &bin, &dir);
        cmd.args(["wdm", "run", "--client", "client"]);
        step("cargo wdm run --client client", cmd, &mut times)
    })();
    println!("\nnew user, in {} (outside the workspace):", work.display());
    for (what, seconds) in &times {
        println!("  {seconds:>6.1} s  {what}");
    }
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}
