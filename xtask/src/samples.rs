//! `cargo xtask samples`: every sample three ways — built and checked as a `.sys`, run on the
//! simulator (its scenario's timeline, then its whole test file with the stress run), and end to
//! end under Wine — ending with one table.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::e2e::{self, Outcome};

/// A sample's simulator results.
struct SimResult {
    passed: usize,
    failed: usize,
    stress: Option<String>,
    ok: bool,
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Prints the sample's scenario with its timeline.
fn scenario(root: &Path, name: &str) -> Result<(), String> {
    let status = cargo()
        .current_dir(root)
        .args([
            "test",
            "-q",
            "-p",
            name,
            "--test",
            "sim",
            "scenario_timeline",
            "--",
            "--nocapture",
        ])
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name}: the scenario failed"))
    }
}

/// Runs the sample's simulator tests and reads their counts and the stress line.
fn simulator_tests(root: &Path, name: &str) -> Result<SimResult, String> {
    let out = cargo()
        .current_dir(root)
        .args(["test", "-p", name, "--test", "sim", "--", "--nocapture"])
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cargo: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut result = SimResult {
        passed: 0,
        failed: 0,
        stress: None,
        ok: out.status.success(),
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("test result: ") {
            let count = |word: &str| {
                rest.split(';')
                    .find_map(|part| {
                        part.trim()
                            .strip_suffix(word)?
                            .trim()
                            .rsplit(' ')
                            .next()?
                            .parse::<usize>()
                            .ok()
                    })
                    .unwrap_or(0)
            };
            result.passed += count("passed");
            result.failed += count("failed");
        }
        if let Some((_, figures)) = line.split_once(" stress: ") {
            result.stress = Some(figures.to_owned());
        }
    }
    if !result.ok {
        print!("{text}");
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(result)
}

/// The stress figures in a few words: "130185 ops in 0.62s, 14631 cancelled".
fn stress_cell(stress: &Option<String>) -> String {
    let Some(s) = stress else { return "-".into() };
    let head = s.split(';').next().unwrap_or(s);
    let ops = head
        .split_once(" operations in ")
        .map(|(n, t)| format!("{} ops in {t}", n.rsplit(' ').next().unwrap_or(n)));
    let cancelled = s.split_whitespace().skip_while(|w| *w != "0xc0000120:").nth(1);
    match (ops, cancelled) {
        (Some(o), Some(c)) => format!("{o}, {c} cancelled"),
        (Some(o), None) => o,
        _ => s.clone(),
    }
}

/// `cargo xtask samples`.
pub fn command(root: &Path) -> Result<(), String> {
    let started = Instant::now();
    let names = crate::sys::samples(root)?;
    println!(
        "[1/3] building {} samples as .sys (x86_64-pc-windows-msvc, rust-lld, no WDK)",
        names.len()
    );
    let built = crate::sys::build(root, &names)?;
    for b in &built {
        println!(
            "  {:<8} {:>6} bytes, {} imports, {}",
            b.name,
            b.size,
            b.verdict.imports.len(),
            if b.verdict.ok() {
                "image checks passed".to_owned()
            } else {
                b.verdict.problems.join("; ")
            }
        );
    }
    println!("\n[2/3] the samples on the simulator");
    let mut sims = Vec::new();
    for name in &names {
        println!("\n== {name}: scenario (simulator timeline)");
        scenario(root, name)?;
        println!("== {name}: simulator tests (with the stress run)");
        let r = simulator_tests(root, name)?;
        println!(
            "   {} passed, {} failed{}",
            r.passed,
            r.failed,
            r.stress.as_ref().map(|s| format!("; stress: {s}")).unwrap_or_default()
        );
        sims.push(r);
    }
    println!("\n[3/3] end to end");
    let wine = e2e::run(root, &built);

    println!(
        "\n{:<8} {:>7} {:<7} {:<10} {:<42} {:<31} wine",
        "sample", ".sys", "image", "simulator", "stress", "loader"
    );
    let mut failed = false;
    for (b, sim) in built.iter().zip(&sims) {
        let image = if b.verdict.ok() { "ok" } else { "FAILED" };
        let tests = if sim.ok {
            format!("{} passed", sim.passed)
        } else {
            format!("{} FAILED", sim.failed)
        };
        let run = wine.iter().find(|r| r.name == b.name);
        let (loader, cell) = match run {
            Some(r) => (r.loader.as_str(), r.outcome.cell()),
            None => ("-", "FAILED: no end-to-end result".to_owned()),
        };
        println!(
            "{:<8} {:>7} {:<7} {:<10} {:<42} {:<31} {}",
            b.name,
            b.size,
            image,
            tests,
            stress_cell(&sim.stress),
            loader,
            cell
        );
        failed |= !b.verdict.ok() || !sim.ok || run.is_none_or(|r| matches!(r.outcome, Outcome::Failed(_)));
    }
    for r in wine.iter().filter(|r| !built.iter().any(|b| b.name == r.name)) {
        println!("{}: {} ({})", r.name, r.outcome.cell(), r.loader);
        failed |= r.outcome.failed();
    }
    println!("\nall three ways in {:.0} s", started.elapsed().as_secs_f64());
    if failed { Err("a sample failed".into()) } else { Ok(()) }
}
