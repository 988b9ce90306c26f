//! `cargo xtask e2e`: every sample `.sys` loaded by a real PE loader — Wine's ntoskrnl — and
//! driven from a user-mode client, end to end.
//!
//! Steps: install `wine64` and the mingw linker if missing; build the client
//! (`e2e/client`, `x86_64-pc-windows-gnu`) and the `bcryptprimitives.dll` shim its standard
//! library needs under Wine 8; make a fresh prefix with a persistent wineserver; then for each
//! sample install the `.sys` as a kernel service, start it, run the client under a timeout, and
//! stop it. A PnP sample (`[package.metadata.wdm.pnp]`) is instead installed on a root device
//! through SetupAPI and removed by DIF_REMOVE before the stop (`cargo_wdm::pnp`, shared with
//! `cargo wdm run`); the C fixture of `cargo xtask wine-pnp` runs last in the stock prefix.
//! After a PnP sample's removal its DbgPrint must show its PnP sequence in order ([`PNP_LOGS`]). An upper filter is
//! not run (`cargo_wdm::pnp::WINE_NO_FILTERS`). A sample whose image imports a routine Wine 8
//! only stubs runs on the patched loader, or is not run when the patch lacks it too, and the
//! table says which routines; a stub the framework never reaches under Wine
//! (`cargo_wdm::wine::WINE_STUBS_UNREACHED`: PoRequestPowerIrp) does not count.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cargo_wdm::pnp::Pnp;
use cargo_wdm::wine::{NOT_PATCHED, Prefix, WINE, stubs_reached};

use crate::sys::Built;

/// How a sample fared.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Every check passed; the summary line of the client.
    Passed(String),
    /// Something failed: why.
    Failed(String),
    /// Not run: why.
    NotRun(String),
}

impl Outcome {
    pub fn cell(&self) -> String {
        match self {
            Outcome::Passed(s) => format!("passed ({s})"),
            Outcome::Failed(s) => format!("FAILED: {s}"),
            Outcome::NotRun(s) => format!("not run: {s}"),
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self, Outcome::Failed(_))
    }
}

/// The Wine stubs an image imports that a run may reach: not those the framework imports but
/// never calls under Wine (`cargo_wdm::wine::WINE_STUBS_UNREACHED`: PoRequestPowerIrp, reached
/// only from a system power IRP, which Wine 8 never sends).
pub fn stubs_imported(built: &Built) -> Vec<String> {
    stubs_reached(built.verdict.imports.iter().map(|(_, name)| name.as_str()))
        .into_iter()
        .map(str::to_owned)
        .collect()
}

fn build_client(root: &Path) -> Result<PathBuf, String> {
    let target = root.join("target/e2e/build");
    cargo_wdm::wine::build_client(root, "wdm-e2e-client", "wdm-e2e-client", &target)
}

/// Set by `cargo xtask test`: a sample that cannot run because a tool or the patch is
/// unavailable (Wine missing, the source not fetchable) is then a failure, not "not run", so
/// CI never passes without the end-to-end runs. A sample Wine cannot run at all (stubs the
/// patch lacks) stays "not run".
pub static REQUIRE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// "Not run" for want of a tool, or a failure when [`REQUIRE`] is set.
fn unavailable(why: String) -> Outcome {
    if REQUIRE.load(std::sync::atomic::Ordering::Relaxed) {
        Outcome::Failed(format!("{why} (cargo xtask test requires the end-to-end runs)"))
    } else {
        Outcome::NotRun(why)
    }
}

/// One sample's end-to-end result and the loader it ran on.
#[derive(Clone, Debug)]
pub struct Run {
    /// The sample.
    pub name: String,
    /// How it fared.
    pub outcome: Outcome,
    /// "Wine 8.0", "Wine 8.0 + wdm ntoskrnl patch", or "-" when it did not run.
    pub loader: String,
}

/// Which loader a sample needs.
enum Needs {
    Stock,
    Patched,
    /// Imports stubs the patch does not implement either.
    Neither(Vec<String>),
}

fn needs(b: &Built) -> Needs {
    needs_for(stubs_imported(b))
}

/// [`needs`], given the reachable stubs an image imports.
fn needs_for(stubs: Vec<String>) -> Needs {
    let unpatched: Vec<String> = stubs
        .iter()
        .filter(|s| NOT_PATCHED.contains(&s.as_str()))
        .cloned()
        .collect();
    if stubs.is_empty() {
        Needs::Stock
    } else if unpatched.is_empty() {
        Needs::Patched
    } else {
        Needs::Neither(unpatched)
    }
}

/// The client and its shim copied into a prefix's `C:\e2e`.
fn install_client(prefix: &Prefix, client: &Path) -> Result<(), String> {
    let bin = prefix.drive_c().join("e2e");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    std::fs::copy(client, bin.join("wdm-e2e-client.exe")).map_err(|e| e.to_string())?;
    cargo_wdm::wine::build_shim(&bin.join("bcryptprimitives.dll"))
}

/// Runs every sample under Wine: on the system's Wine when it implements what the sample
/// imports, on Wine with the project's ntoskrnl patch when the patch implements the rest (the
/// patch is built once and cached), and not at all otherwise. With the patch built, its own
/// tests run too (the last entry, named "ntoskrnl patch tests").
pub fn run(root: &Path, built: &[Built]) -> Vec<Run> {
    let not_run = |b: &Built, why: String| Run {
        name: b.name.clone(),
        outcome: unavailable(why),
        loader: "-".into(),
    };
    println!("\n== end to end under Wine");
    if let Err(e) = cargo_wdm::tools::ensure_packages(&["wine64", "gcc-mingw-w64-x86-64"]) {
        return built
            .iter()
            .map(|b| not_run(b, format!("Wine could not be installed ({e})")))
            .collect();
    }
    if !Path::new(WINE).exists() {
        return built.iter().map(|b| not_run(b, format!("{WINE} is missing"))).collect();
    }
    let started = Instant::now();
    let stock = cargo_wdm::wine::version();
    let patched_name = format!("{stock} + wdm ntoskrnl patch");
    let failed_all = |e: &str| -> Vec<Run> {
        built
            .iter()
            .map(|b| Run {
                name: b.name.clone(),
                outcome: Outcome::Failed(e.to_owned()),
                loader: "-".into(),
            })
            .collect()
    };
    let client = match build_client(root) {
        Ok(c) => c,
        Err(e) => return failed_all(&e),
    };
    // The patched loader, only if a sample needs it.
    let patched = if built.iter().any(|b| matches!(needs(b), Needs::Patched)) {
        println!("e2e: the wdm ntoskrnl patch (crates/cargo-wdm/wine/): building or taking it from the cache");
        let p = crate::wine_patch::patched_ntoskrnl(root);
        match &p {
            Ok(p) => println!(
                "e2e: patched ntoskrnl.exe for Wine {} (patch {}) {} in {:.0} s",
                p.wine_version,
                &p.patch_hash[..16.min(p.patch_hash.len())],
                if p.from_cache { "from the cache" } else { "built" },
                p.seconds
            ),
            Err(e) => println!("e2e: the patched ntoskrnl.exe is not available: {e}"),
        }
        Some(p)
    } else {
        None
    };
    let mut results = Vec::new();
    let mut stock_prefix = None;
    let mut patched_prefix = None;
    for b in built {
        // An upper filter: Wine 8 loads none, whatever it imports (so before the loader choice).
        if let Ok(Some(pnp)) = Pnp::of_crate(&root.join("samples").join(&b.name))
            && pnp.upper_filter
        {
            println!("e2e: {}: not run (an upper filter)", b.name);
            results.push(Run {
                name: b.name.clone(),
                outcome: Outcome::NotRun(cargo_wdm::pnp::WINE_NO_FILTERS.into()),
                loader: "-".into(),
            });
            continue;
        }
        let (prefix, loader) = match needs(b) {
            Needs::Neither(stubs) => {
                println!("e2e: {}: not run (imports Wine stubs: {})", b.name, stubs.join(", "));
                results.push(Run {
                    name: b.name.clone(),
                    outcome: Outcome::NotRun(format!(
                        "Wine only stubs {} (the wdm patch does not implement them)",
                        stubs.join(", ")
                    )),
                    loader: "-".into(),
                });
                continue;
            }
            Needs::Stock => (&mut stock_prefix, (None, stock.clone())),
            Needs::Patched => match &patched {
                Some(Ok(p)) => (&mut patched_prefix, (Some(p), patched_name.clone())),
                Some(Err(e)) => {
                    results.push(not_run(
                        b,
                        format!("needs the wdm ntoskrnl patch, which could not be built: {e}"),
                    ));
                    continue;
                }
                None => unreachable!("built above whenever a sample needs it"),
            },
        };
        let (patch, loader) = loader;
        if prefix.is_none() {
            let label = if patch.is_some() { "patched" } else { "stock" };
            println!("e2e: making a fresh Wine prefix ({label}, about 20 s)");
            let made =
                Prefix::create(&root.join("target/e2e"), patch).and_then(|p| install_client(&p, &client).map(|()| p));
            match made {
                Ok(p) => *prefix = Some(p),
                Err(e) => {
                    results.push(Run {
                        name: b.name.clone(),
                        outcome: Outcome::Failed(e),
                        loader,
                    });
                    continue;
                }
            }
        }
        let prefix = prefix.as_ref().expect("made above");
        println!("e2e: {}: installing and starting the service ({loader})", b.name);
        let outcome = run_one(root, prefix, b);
        println!("e2e: {}: {}", b.name, outcome.cell());
        results.push(Run {
            name: b.name.clone(),
            outcome,
            loader,
        });
    }
    // cargo-wdm's PnP installer with the C fixture (e2e/wine/pnp-fixture), in the stock prefix.
    println!("e2e: the PnP installer with its C fixture (cargo xtask wine-pnp)");
    let made = match stock_prefix.take() {
        Some(p) => Ok(p),
        None => Prefix::create(&root.join("target/e2e"), None).and_then(|p| install_client(&p, &client).map(|()| p)),
    };
    let rust_client = Some(r"C:\e2e\wdm-e2e-client.exe");
    let outcome = match made.and_then(|p| crate::wine_pnp::run_fixture(root, &p, rust_client)) {
        Ok(summary) => Outcome::Passed(summary),
        Err(e) => Outcome::Failed(e),
    };
    println!("e2e: pnp fixture: {}", outcome.cell());
    results.push(Run {
        name: "pnp fixture".into(),
        outcome,
        loader: stock.clone(),
    });
    drop(patched_prefix);
    if let Some(Ok(p)) = &patched {
        println!("e2e: the patch's own tests (e2e/wine/tests) under {patched_name}");
        let outcome = match crate::wine_patch::run_tests(root, p) {
            Ok(summary) => Outcome::Passed(summary),
            Err(e) => Outcome::Failed(e),
        };
        println!("e2e: ntoskrnl patch tests: {}", outcome.cell());
        results.push(Run {
            name: "ntoskrnl patch tests".into(),
            outcome,
            loader: patched_name.clone(),
        });
    }
    println!("e2e: done in {:.0} s", started.elapsed().as_secs_f64());
    results
}

/// The lines between `--- transcript` and `--- end` in a program's output.
fn transcript(output: &str) -> Option<String> {
    let (_, rest) = output.split_once("--- transcript\n")?;
    let (body, _) = rest.split_once("--- end")?;
    Some(body.replace("\r\n", "\n"))
}

/// The sample's scenario on the simulator (its `scenario` test), for the comparison.
fn simulator_transcript(root: &Path, name: &str) -> Result<String, String> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(["test", "-q", "-p", name, "--test", "scenario", "--", "--nocapture"])
        .output()
        .map_err(|e| format!("cargo: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match transcript(&stdout) {
        Some(t) if out.status.success() => Ok(t),
        _ => Err(format!(
            "the simulator's run of the {name} scenario failed:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// What a PnP sample's DbgPrint must show under Wine, in this order, by sample: the
/// callbacks Wine 8 drives (AddDevice, START, and DIF_REMOVE's SURPRISE_REMOVAL then REMOVE).
/// Wine sends no QUERY_STOP/STOP, QUERY_REMOVE or power IRPs: those sequences are simulator
/// only.
const PNP_LOGS: &[(&str, &[&str])] = &[(
    "toaster",
    &[
        "toaster: AddDevice",
        "toaster: started (1)",
        "toaster: surprise removal",
        "toaster: remove",
    ],
)];

fn pnp_log(name: &str) -> Option<&'static [&'static str]> {
    PNP_LOGS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Runs the client against one sample: a legacy driver installed as a kernel service (`sc
/// create`, `sc start`), a PnP one (`[package.metadata.wdm.pnp]` in its Cargo.toml) on a root
/// device through SetupAPI and removed by DIF_REMOVE (`cargo_wdm::pnp`, what `cargo wdm run`
/// does too); either way the service must then stop.
fn run_one(root: &Path, prefix: &Prefix, b: &Built) -> Outcome {
    let pnp = match Pnp::of_crate(&root.join("samples").join(&b.name)) {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(e),
    };
    let client = || prefix.wine(Duration::from_secs(90), &[r"C:\e2e\wdm-e2e-client.exe", &b.name]);
    let pnp_summary: String;
    let (run, stop, unloaded) = match &pnp {
        None => {
            let drivers = prefix.drive_c().join("windows/system32/drivers");
            if let Err(e) = std::fs::copy(&b.path, drivers.join(format!("{}.sys", b.name))) {
                return Outcome::Failed(format!("copying the image: {e}"));
            }
            if let Err(e) = prefix.start_service(&b.name) {
                return Outcome::Failed(e);
            }
            let run = client();
            (run, prefix.stop_service(&b.name), "unloaded")
        }
        // Reported by `run` before a prefix is chosen; kept so no caller can run one.
        Some(pnp) if pnp.upper_filter => return Outcome::NotRun(cargo_wdm::pnp::WINE_NO_FILTERS.into()),
        Some(pnp) => {
            let installer = match cargo_wdm::pnp::installer(&crate::wine_pnp::cache(root)) {
                Ok(i) => i,
                Err(e) => return Outcome::Failed(e),
            };
            let run = prefix.run_pnp(&installer, &b.path, &b.name, pnp, |installed| {
                println!("    {}", installed.line);
                client()
            });
            let timings = run.timings();
            println!("    {timings}");
            let (Some(out), Some(removed)) = (run.client, run.removed) else {
                let e = run.installed.err().unwrap_or_default();
                return Outcome::Failed(format!("installing through SetupAPI: {e}"));
            };
            if let Ok(r) = &removed {
                println!("    {}", r.line);
            }
            // The driver's own account of the PnP sequence, from its DbgPrint (as the
            // fixture's, `wine_pnp::run_fixture`); it reaches the log asynchronously.
            let logged = match pnp_log(&b.name) {
                None => Ok(String::new()),
                Some(sequence) => {
                    std::thread::sleep(Duration::from_millis(300));
                    let log = prefix.debug_output();
                    let prefix_of = format!("{}: ", b.name);
                    for line in log.iter().filter(|l| l.starts_with(&prefix_of)) {
                        println!("    > {line}");
                    }
                    crate::wine_pnp::in_order(&log, sequence)
                        .map(|()| format!("; DbgPrint: {} in order", sequence.join(", ")))
                }
            };
            let removed = match (removed, logged) {
                (Ok(_), Ok(logged)) => Ok(logged),
                (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            };
            pnp_summary = format!(
                "{}{}; {timings}",
                cargo_wdm::pnp::SUMMARY,
                removed.as_deref().unwrap_or("")
            );
            (out, removed.map(drop), pnp_summary.as_str())
        }
    };
    let out = match run {
        Ok(o) => o,
        Err(e) => return Outcome::Failed(e),
    };
    let stdout = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    for line in stdout.lines() {
        println!("    {line}");
    }
    let summary = stdout.lines().last().unwrap_or("").trim().to_owned();
    let outcome = match out.status.code() {
        Some(0) => Outcome::Passed(summary),
        Some(124) => Outcome::Failed(format!("the client timed out after 90 s; see {}", prefix.log.display())),
        _ => Outcome::Failed(if summary.is_empty() {
            format!("the client exited with {}", out.status)
        } else {
            summary
        }),
    };
    let Outcome::Passed(summary) = outcome else {
        return outcome;
    };
    if let Err(e) = stop {
        return Outcome::Failed(format!("{summary}, but after the client: {e}"));
    }
    // A sample with a scenario: the transcript under Wine must be the simulator's, line for line.
    if wdm_e2e_scenario::by_name(&b.name).is_none() {
        return Outcome::Passed(format!("{summary}, {unloaded}"));
    }
    let Some(wine) = transcript(&stdout) else {
        return Outcome::Failed("the client printed no transcript".into());
    };
    match simulator_transcript(root, &b.name) {
        Err(e) => Outcome::Failed(e),
        Ok(sim) => match wdm_e2e_scenario::first_difference(&sim, &wine) {
            None => Outcome::Passed(format!(
                "{summary}, {unloaded}; transcript = simulator's, {} lines",
                wine.lines().count()
            )),
            Some(diff) => Outcome::Failed(format!("Wine and the simulator differ: {diff}")),
        },
    }
}

/// `cargo xtask e2e [SAMPLE...]`: every sample, or the ones named.
pub fn command(root: &Path, only: &[String]) -> Result<(), String> {
    let mut names = crate::sys::samples(root)?;
    if let Some(unknown) = only.iter().find(|n| !names.contains(n)) {
        return Err(format!("e2e: no sample {unknown} (samples: {})", names.join(", ")));
    }
    if !only.is_empty() {
        names.retain(|n| only.contains(n));
    }
    let built = crate::sys::build(root, &names)?;
    let results = run(root, &built);
    println!("\n{:<22} {:<31} result", "sample", "loader");
    for r in &results {
        println!("{:<22} {:<31} {}", r.name, r.loader, r.outcome.cell());
    }
    if results.iter().any(|r| r.outcome.failed()) {
        Err("an end-to-end test failed".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loader choice: no reachable stub runs on stock Wine; stubs the patch implements
    /// need it; one it lacks is not run. PoRequestPowerIrp (wdm::pnp's S-IRP path, which Wine
    /// never takes) is not counted, so the toaster runs on stock Wine.
    #[test]
    fn the_loader_follows_the_reachable_stubs() {
        let reached = |names: &[&str]| -> Vec<String> {
            stubs_reached(names.iter().copied())
                .into_iter()
                .map(str::to_owned)
                .collect()
        };
        assert!(matches!(
            needs_for(reached(&["IoCompleteRequest", "PoRequestPowerIrp"])),
            Needs::Stock
        ));
        assert!(matches!(
            needs_for(reached(&["PoRequestPowerIrp", "IoStartPacket"])),
            Needs::Patched
        ));
        match needs_for(reached(&["PoRequestPowerIrp", "IoWMIWriteEvent"])) {
            Needs::Neither(s) => assert_eq!(s, ["IoWMIWriteEvent"]),
            _ => panic!("IoWMIWriteEvent is not patched"),
        }
    }
}
