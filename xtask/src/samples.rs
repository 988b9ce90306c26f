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

/// Prints the sample's scenario with its timeline (a sample whose `tests/sim.rs` has no
/// `scenario_timeline` test, such as the PnP ones, says so).
fn scenario(root: &Path, name: &str) -> Result<(), String> {
    let sim = root.join("samples").join(name).join("tests/sim.rs");
    if !std::fs::read_to_string(&sim).is_ok_and(|t| t.contains("fn scenario_timeline")) {
        println!("   (no scenario_timeline test: the PnP sequences are in its simulator tests)");
        return Ok(());
    }
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

/// The test files (under a sample's `tests/`) whose tests run the driver on the simulator and
/// are counted: `sim.rs`, and `power.rs` for the PnP samples (sleep and resume, and the Wine
/// profile's power side).
const SIM_TEST_FILES: &[&str] = &["sim", "power"];

/// The sample's simulator test files that exist, as `--test <name>` arguments.
fn sim_test_args(root: &Path, name: &str) -> Vec<String> {
    SIM_TEST_FILES
        .iter()
        .filter(|f| {
            root.join("samples")
                .join(name)
                .join("tests")
                .join(format!("{f}.rs"))
                .is_file()
        })
        .flat_map(|f| ["--test".to_owned(), (*f).to_owned()])
        .collect()
}

/// Runs the sample's simulator tests and reads their counts and the stress line.
fn simulator_tests(root: &Path, name: &str) -> Result<SimResult, String> {
    let out = cargo()
        .current_dir(root)
        .args(["test", "-p", name])
        .args(sim_test_args(root, name))
        .args(["--", "--nocapture"])
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
    // The counts end at a ';' when the run recorded failures.
    let cancelled = s
        .split_whitespace()
        .skip_while(|w| *w != "0xc0000120:")
        .nth(1)
        .map(|n| n.trim_end_matches(';'));
    // A PnP sample's stress run races surprise removal: requests failed with NO_SUCH_DEVICE.
    let removed = s
        .split_whitespace()
        .skip_while(|w| *w != "0xc000000e:")
        .nth(1)
        .map(|n| n.trim_end_matches(';'));
    let removed = removed.map(|n| format!(", {n} NO_SUCH_DEVICE")).unwrap_or_default();
    match (ops, cancelled) {
        (Some(o), Some(c)) => format!("{o}, {c} cancelled{removed}"),
        (Some(o), None) => format!("{o}{removed}"),
        _ => s.clone(),
    }
}

/// What a PnP sample's simulator tests go through that its Wine run cannot show, because Wine 8
/// never sends it (../shared/spec/wine-pnp.md): never "passed under Wine".
fn simulator_only(root: &Path, name: &str) -> Option<String> {
    let pnp = cargo_wdm::pnp::Pnp::of_crate(&root.join("samples").join(name)).ok()??;
    Some(if pnp.upper_filter {
        "simulator only: all of it (Wine 8 loads no filter drivers)".to_owned()
    } else {
        "simulator only (Wine 8 sends none): power (S-IRPs, the D-IRPs they map to, I/O held in D3), \
         QUERY_STOP/STOP/CANCEL_STOP (rebalance, I/O held), QUERY_REMOVE/CANCEL_REMOVE (veto), \
         IRP_MJ_CLEANUP (a closed handle's waits cancelled); under Wine: AddDevice, START, I/O, \
         SURPRISE_REMOVAL + REMOVE"
            .to_owned()
    })
}

/// `cargo xtask samples [SAMPLE...]`: every sample, or the ones named.
pub fn command(root: &Path, only: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let mut names = crate::sys::samples(root)?;
    if let Some(unknown) = only.iter().find(|n| !names.contains(n)) {
        return Err(format!("samples: no sample {unknown} (samples: {})", names.join(", ")));
    }
    if !only.is_empty() {
        names.retain(|n| only.contains(n));
    }
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

    let width = sims
        .iter()
        .map(|s| stress_cell(&s.stress).len())
        .max()
        .unwrap_or(0)
        .max(42);
    println!(
        "\n{:<8} {:>7} {:<7} {:<10} {:<width$} {:<31} wine",
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
            "{:<8} {:>7} {:<7} {:<10} {:<width$} {:<31} {}",
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
    for b in &built {
        if let Some(note) = simulator_only(root, &b.name) {
            println!("{:<8} {note}", b.name);
        }
    }
    for r in wine.iter().filter(|r| !built.iter().any(|b| b.name == r.name)) {
        println!("{}: {} ({})", r.name, r.outcome.cell(), r.loader);
        failed |= r.outcome.failed();
    }
    println!("\nall three ways in {:.0} s", started.elapsed().as_secs_f64());
    if failed { Err("a sample failed".into()) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    /// The PnP samples' power tests are counted with their simulator tests.
    #[test]
    fn the_power_tests_are_counted() {
        assert_eq!(sim_test_args(&root(), "toaster"), ["--test", "sim", "--test", "power"]);
        assert_eq!(sim_test_args(&root(), "filter"), ["--test", "sim", "--test", "power"]);
        assert_eq!(sim_test_args(&root(), "minimal"), ["--test", "sim"]);
    }

    /// What Wine never sends is marked simulator only, and the filter entirely.
    #[test]
    fn pnp_samples_say_what_is_simulator_only() {
        let toaster = simulator_only(&root(), "toaster").unwrap();
        for what in ["power", "QUERY_STOP", "QUERY_REMOVE", "IRP_MJ_CLEANUP"] {
            assert!(toaster.contains(what), "{toaster}");
        }
        assert!(simulator_only(&root(), "filter").unwrap().contains("no filter drivers"));
        assert_eq!(simulator_only(&root(), "minimal"), None);
    }

    #[test]
    fn the_stress_cell_counts_removals() {
        let line = "100000 requests, 30000 cancels (12 ran a cancel routine), 130185 operations in 1.20s; \
                    0x00000000: 90000 0xc0000120: 8000 0xc000000e: 2000";
        assert_eq!(
            stress_cell(&Some(line.into())),
            "130185 ops in 1.20s, 8000 cancelled, 2000 NO_SUCH_DEVICE"
        );
        let failed = "40000 requests, 7332 cancels (210 ran a cancel routine), 44000 operations in 10.11s; \
                      0x00000000: 20573 0xc000000e: 15884 0xc0000120: 210; 1 failure(s), first: IRP 0x1 did not complete";
        assert_eq!(
            stress_cell(&Some(failed.into())),
            "44000 ops in 10.11s, 210 cancelled, 15884 NO_SUCH_DEVICE"
        );
    }
}
