//! `cargo xtask new-user`: what a new user does, on this machine, outside the workspace:
//! installs `cargo-wdm` from the repository, makes a driver crate with `cargo wdm new` in a
//! temporary folder, runs its tests, builds and checks its `.sys`, and runs it under Wine with
//! the template's client; then the same for a PnP driver crate (`cargo wdm new --pnp`), which
//! `cargo wdm run` installs on a root device through SetupAPI. Every step must pass; the table
//! gives each step's time, and each flow's total.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The crate the new user makes.
const NAME: &str = "hello-driver";

/// The PnP crate the new user makes next.
const PNP_NAME: &str = "hello-pnp";

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

/// One flow in `work`: `cargo wdm new <new_args> <name>`, then test, build, check and run in the
/// crate. Each step's time goes to `times`, labelled with `flow`.
fn flow(
    flow: &str,
    new_args: &[&str],
    name: &str,
    bin: &Path,
    work: &Path,
    times: &mut Vec<(String, f64)>,
) -> Result<(), String> {
    let label = |what: &str| format!("{flow}: {what}");
    let mut cmd = user_command("cargo", bin, work);
    cmd.args(["wdm", "new"]).args(new_args).arg(name);
    let new = ["cargo wdm new"]
        .into_iter()
        .chain(new_args.iter().copied())
        .chain([name])
        .collect::<Vec<_>>()
        .join(" ");
    step(&label(&new), cmd, times)?;
    let dir = work.join(name);
    let mut cmd = user_command("cargo", bin, &dir);
    cmd.args(["wdm", "test"]);
    step(&label("cargo wdm test"), cmd, times)?;
    let mut cmd = user_command("cargo", bin, &dir);
    cmd.args(["wdm", "build", "--release"]);
    step(&label("cargo wdm build --release"), cmd, times)?;
    // The image `cargo wdm build` made (named after the template's driver binary).
    let sys = std::fs::read_dir(dir.join("target/wdm/drivers"))
        .map_err(|e| format!("target/wdm/drivers: {e}"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".sys"))
        .map(|n| format!("target/wdm/drivers/{n}"))
        .ok_or("cargo wdm build made no .sys")?;
    let mut cmd = user_command("cargo", bin, &dir);
    cmd.args(["wdm", "check", &sys]);
    step(&label(&format!("cargo wdm check {sys}")), cmd, times)?;
    let mut cmd = user_command("cargo", bin, &dir);
    cmd.args(["wdm", "run", "--client", "client"]);
    step(&label("cargo wdm run --client client"), cmd, times)
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
        flow("legacy", &[], NAME, &bin, &work, &mut times)?;
        flow("pnp", &["--pnp"], PNP_NAME, &bin, &work, &mut times)
    })();
    println!("\nnew user, in {} (outside the workspace):", work.display());
    for (what, seconds) in &times {
        println!("  {seconds:>6.1} s  {what}");
    }
    for flow in ["legacy", "pnp"] {
        let prefix = format!("{flow}: ");
        let steps: Vec<f64> = times
            .iter()
            .filter(|(what, _)| what.starts_with(&prefix))
            .map(|(_, s)| *s)
            .collect();
        if !steps.is_empty() {
            println!(
                "  {:>6.1} s  the {flow} flow ({} steps)",
                steps.iter().sum::<f64>(),
                steps.len()
            );
        }
    }
    let total: f64 = times.iter().map(|(_, s)| s).sum();
    println!("  {total:>6.1} s  in all");
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}
