//! `cargo xtask miri`: the host tests on the simulator under Miri (see docs/miri.md).
//!
//! Installs the nightly toolchain's `miri` and `rust-src` components if missing, then runs every
//! test that can run under Miri one at a time (`--exact`), each in its own Miri process: Miri
//! stops a process at the first undefined behaviour, so one finding must not hide the others.
//! Exits non-zero if any test reports undefined behaviour, fails, or times out.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The toolchain Miri comes with (Miri exists only on nightly).
const NIGHTLY: &str = "nightly";

/// Why each flag is there (docs/miri.md has the longer story):
/// - `-Zmiri-ignore-leaks`: the fixtures leak on purpose (names with `Box::leak`, files
///   `mem::forget`ten after a bug check), and the simulator's system and worker threads are
///   detached and still alive when the test's main thread returns. The simulator checks the
///   driver's own leaks itself (PoolLeak, DeviceLeak, ...).
/// - `-Zmiri-permissive-provenance`: the simulator keys its object tables by address (`usize`)
///   and turns the keys back into pointers; this only silences the warning Miri prints for each
///   such cast (the default model already allows them).
///
/// Isolation stays on (Miri's virtual clock keeps the timers and time-outs deterministic), and
/// so do Stacked Borrows, data-race detection and the weak compare-exchange failures.
const MIRIFLAGS: &str = "-Zmiri-ignore-leaks -Zmiri-permissive-provenance";

/// Test targets run under Miri: (package, target), where the target is `lib`, `doc` or a test
/// name. Doctests run as one Miri run per package (each doctest is its own process already).
const TARGETS: &[(&str, &str)] = &[
    ("wdm-sim", "lib"),
    ("wdm-sim", "doc"),
    ("wdm-sim", "completion"),
    ("wdm-sim", "csq"),
    ("wdm-sim", "devqueue"),
    ("wdm-sim", "filter"),
    ("wdm-sim", "race"),
    ("wdm-sim", "requests"),
    ("wdm-sim", "startio"),
    ("wdm-sim", "timers"),
    ("wdm-sim", "trace"),
    ("wdm-sim", "bugcheck_unwind"),
    ("wdm", "lib"),
    ("wdm", "doc"),
    ("wdm", "filter"),
    ("wdm", "queue"),
    ("wdm", "csq_queue"),
    ("wdm", "requests"),
    ("wdm", "spin_lock_safe"),
    ("wdm", "start_io"),
    ("wdm", "timer"),
    ("wdm", "hostile"),
    ("wdm", "lifecycle"),
    ("wdm", "review"),
    ("minimal", "sim"),
    ("event", "sim"),
    ("csq", "sim"),
    ("cancel", "sim"),
    ("startio", "sim"),
    ("ioctl", "sim"),
    ("wdm-sim", "pnp"),
    ("wdm-sim", "pnp_sequences"),
    ("wdm-sim", "remlock"),
    ("wdm-sim", "power"),
    ("wdm-sim", "wmi"),
    ("wdm-sim", "interfaces"),
    ("wdm", "pnp"),
    ("wdm", "pnp_review"),
    ("toaster", "sim"),
    ("toaster", "power"),
    ("filter", "sim"),
    ("filter", "power"),
];

/// Tests skipped: (package or "" for any, name substring or `^prefix`, reason).
const SKIPPED: &[(&str, &str, &str)] = &[
    (
        "",
        "^io_racing_surprise_removal",
        "1200 requests over three real threads racing a removal: hours under Miri; the same race \
         runs explored (tests/pnp.rs: *_explored) under Miri",
    ),
    (
        "",
        "^stress_",
        "10^5 requests over 4 threads: hours under Miri (Stress::new cannot be scaled down)",
    ),
    (
        "startio",
        "queued_and_in_progress_requests_can_be_cancelled",
        "assumes a 41 ms write is still in progress when it cancels it; under Miri's clock it is not",
    ),
    (
        "wdm",
        "forward_with_never_writes_outside_the_irp_stack",
        "runs its attack in a child process (it once corrupted memory); Miri's isolation forbids spawning one",
    ),
    (
        "wdm",
        "a_device_cannot_be_attached_into_its_own_stack",
        "runs its attack in a child process (it once hung); Miri's isolation forbids spawning one",
    ),
    (
        "wdm",
        "a_start_io_that_holds_during_the_drop_is_harmless",
        "runs its attack in a child process (it once double-completed); Miri's isolation forbids spawning one",
    ),
];

/// What does not run under Miri at all, printed in the summary.
const NOT_RUN: &[&str] = &[
    "wdm --test docs, wdm-sim --test docs: read the source tree and docs/ (file system access \
     under isolation); no unsafe code",
    "wdm --test ui: trybuild runs rustc on compile-fail cases",
    "benches, the kernel backend (inline asm for CR8, the SEH-guarded wdm_user_copy in \
     global_asm, raw-dylib ntoskrnl imports): not compiled for the host at all",
];

/// Whether `test` matches a skip pattern: a substring, or a prefix when it starts with `^`.
fn matches(test: &str, pattern: &str) -> bool {
    match pattern.strip_prefix('^') {
        Some(prefix) => test.starts_with(prefix),
        None => test.contains(pattern),
    }
}

/// One test's time limit under Miri.
const TIMEOUT: Duration = Duration::from_secs(900);

enum Outcome {
    Passed,
    Failed(String),
    TimedOut,
}

pub fn command(root: &Path, args: &[String]) -> Result<(), String> {
    let start = Instant::now();
    ensure_miri()?;
    let only: Vec<&str> = args.iter().map(String::as_str).collect();
    let flags = match std::env::var("MIRIFLAGS") {
        Ok(extra) if !extra.trim().is_empty() => format!("{MIRIFLAGS} {extra}"),
        _ => MIRIFLAGS.to_owned(),
    };
    println!("MIRIFLAGS={flags}");
    let mut failures: Vec<(String, String)> = Vec::new();
    let mut table: Vec<String> = Vec::new();
    let (mut passed, mut skipped) = (0usize, 0usize);
    for &(package, target) in TARGETS {
        if !only.is_empty() && !only.contains(&package) {
            continue;
        }
        let label = if target == "lib" {
            format!("{package} --lib")
        } else {
            format!("{package} --test {target}")
        };
        if target == "doc" {
            let t0 = Instant::now();
            let (ok, bad, skip) = run_doc(root, package, &flags, &mut failures)?;
            table.push(format!(
                "{:<28} {ok:>3} passed {bad:>3} failed {skip:>3} skipped {:>7.0} s",
                format!("{package} --doc"),
                t0.elapsed().as_secs_f64()
            ));
            passed += ok;
            skipped += skip;
            continue;
        }
        let tests = list(root, package, target, &flags)?;
        let t0 = Instant::now();
        let (mut ok, mut bad, mut skip) = (0usize, 0usize, 0usize);
        for test in &tests {
            if let Some((_, _, why)) = SKIPPED
                .iter()
                .find(|(p, pat, _)| (p.is_empty() || *p == package) && matches(test, pat))
            {
                println!("  skip {label} {test}: {why}");
                skip += 1;
                continue;
            }
            let t = Instant::now();
            let outcome = run_one(root, package, target, test, &flags)?;
            let secs = t.elapsed().as_secs_f64();
            match outcome {
                Outcome::Passed => {
                    println!("  ok   {label} {test} ({secs:.1} s)");
                    ok += 1;
                }
                Outcome::Failed(why) => {
                    println!("  FAIL {label} {test} ({secs:.1} s): {why}");
                    failures.push((format!("{label} {test}"), why));
                    bad += 1;
                }
                Outcome::TimedOut => {
                    println!("  FAIL {label} {test}: timed out after {} s", TIMEOUT.as_secs());
                    failures.push((format!("{label} {test}"), "timed out".into()));
                    bad += 1;
                }
            }
        }
        table.push(format!(
            "{label:<28} {ok:>3} passed {bad:>3} failed {skip:>3} skipped {:>7.0} s",
            t0.elapsed().as_secs_f64()
        ));
        passed += ok;
        skipped += skip;
    }
    println!("\nMiri, per test target:");
    for line in &table {
        println!("  {line}");
    }
    println!("not run under Miri:");
    for line in NOT_RUN {
        println!("  {line}");
    }
    if !failures.is_empty() {
        println!("\nfailures (undefined behaviour, unsupported operations, failed assertions):");
        for (test, why) in &failures {
            println!("  {test}: {why}");
        }
    }
    println!(
        "\nmiri: {passed} passed, {} failed, {skipped} skipped in {:.0} s",
        failures.len(),
        start.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} test(s) failed under Miri", failures.len()))
    }
}

/// Installs Miri for the nightly toolchain if it is missing, and builds its sysroot.
fn ensure_miri() -> Result<(), String> {
    let toolchains = output("rustup", &["toolchain", "list"])?;
    if !toolchains.lines().any(|l| l.starts_with(NIGHTLY)) {
        println!("installing the {NIGHTLY} toolchain with miri and rust-src");
        run(
            "rustup",
            &[
                "toolchain",
                "install",
                NIGHTLY,
                "--profile",
                "minimal",
                "--component",
                "miri,rust-src",
            ],
        )?;
    }
    let installed = output("rustup", &["component", "list", "--installed", "--toolchain", NIGHTLY])?;
    for component in ["miri", "rust-src"] {
        if !installed
            .lines()
            .any(|l| l == component || l.starts_with(&format!("{component}-")))
        {
            println!("installing the Rust component {component} for {NIGHTLY}");
            run("rustup", &["component", "add", component, "--toolchain", NIGHTLY])?;
        }
    }
    run("cargo", &[&format!("+{NIGHTLY}"), "miri", "setup"])
}

fn output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("{program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{program} {} failed", args.join(" ")))
    }
}

/// `nice -n 10 cargo +nightly miri test -j1 -p PACKAGE (--lib | --test TARGET) -- EXTRA`: low
/// priority and one job, the machine is shared.
fn miri_test(root: &Path, package: &str, target: &str, flags: &str, extra: &[&str]) -> Command {
    let mut c = Command::new("nice");
    c.current_dir(root).args([
        "-n",
        "10",
        "cargo",
        &format!("+{NIGHTLY}"),
        "miri",
        "test",
        "-q",
        "-j1",
        "-p",
        package,
    ]);
    if target == "lib" {
        c.arg("--lib");
    } else if target == "doc" {
        c.arg("--doc");
    } else {
        c.args(["--test", target]);
    }
    c.arg("--").args(extra).env("MIRIFLAGS", flags);
    // The pinned toolchain's CARGO would run the stable cargo; `cargo +nightly` must pick.
    c.env_remove("CARGO").env_remove("RUSTUP_TOOLCHAIN");
    c
}

/// Spawning a test in a process group of its own, so a time-out can end cargo-miri and the
/// interpreter under it together.
trait SpawnInOwnGroup {
    fn spawn_in_own_group(&mut self) -> std::io::Result<std::process::Child>;
}

impl SpawnInOwnGroup for Command {
    #[cfg(unix)]
    fn spawn_in_own_group(&mut self) -> std::io::Result<std::process::Child> {
        std::os::unix::process::CommandExt::process_group(self, 0).spawn()
    }
    #[cfg(not(unix))]
    fn spawn_in_own_group(&mut self) -> std::io::Result<std::process::Child> {
        self.spawn()
    }
}

/// A package's doctests in one Miri run (each doctest runs in a process of its own, so one
/// finding does not stop the others): (passed, failed, skipped).
fn run_doc(
    root: &Path,
    package: &str,
    flags: &str,
    failures: &mut Vec<(String, String)>,
) -> Result<(usize, usize, usize), String> {
    let mut extra: Vec<&str> = Vec::new();
    let mut skip = 0;
    for (p, pattern, why) in SKIPPED {
        if *p == package {
            println!("  skip {package} --doc *{pattern}*: {why}");
            extra.extend(["--skip", pattern]);
            skip += 1;
        }
    }
    let out = miri_test(root, package, "doc", flags, &extra)
        .output()
        .map_err(|e| format!("cargo miri: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let count = |word: &str| -> usize {
        text.lines()
            .filter_map(|l| l.strip_prefix("test result: "))
            .filter_map(|l| {
                l.split(';').find_map(|part| {
                    part.trim()
                        .trim_start_matches("ok. ")
                        .trim_start_matches("FAILED. ")
                        .strip_suffix(word)
                })
            })
            .filter_map(|n| n.trim().parse::<usize>().ok())
            .sum()
    };
    let (ok, bad) = (count(" passed"), count(" failed"));
    // Each failed doctest's section starts with `---- NAME stdout ----`.
    let sections: Vec<&str> = text.split("\n---- ").skip(1).collect();
    for section in sections {
        let name = section.split(" stdout ----").next().unwrap_or("?").trim();
        println!("  FAIL {package} --doc {name}");
        failures.push((format!("{package} --doc {name}"), first_error(section)));
    }
    if !out.status.success() && bad == 0 {
        return Err(format!("cargo miri test -p {package} --doc failed:\n{text}"));
    }
    Ok((ok, bad, skip))
}

/// The names of a target's tests (building it under Miri first).
fn list(root: &Path, package: &str, target: &str, flags: &str) -> Result<Vec<String>, String> {
    let out = miri_test(root, package, target, flags, &["--list"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cargo miri: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo miri test -p {package} {target} --list failed"));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect())
}

/// Runs one test in its own Miri process, with a time limit.
fn run_one(root: &Path, package: &str, target: &str, test: &str, flags: &str) -> Result<Outcome, String> {
    let mut child = miri_test(root, package, target, flags, &["--exact", test])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn_in_own_group()
        .map_err(|e| format!("cargo miri: {e}"))?;
    // Read both pipes on threads so a chatty test cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("cargo miri: {e}"))? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            // The whole process group: cargo-miri and the interpreter under it.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = format!("{}{}", out.join().unwrap_or_default(), err.join().unwrap_or_default());
    Ok(match status {
        None => Outcome::TimedOut,
        Some(s) if s.success() => Outcome::Passed,
        Some(_) => Outcome::Failed(first_error(&text)),
    })
}

/// The first error Miri (or the test) reported, with the location under it.
fn first_error(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(at) = lines.iter().position(|l| {
        l.starts_with("error: Undefined Behavior")
            || l.starts_with("error: unsupported operation")
            || l.starts_with("error: the main thread terminated")
            || l.starts_with("error: memory leaked")
            || l.contains("panicked at")
    }) else {
        return "failed (see `cargo +nightly miri test` output)".into();
    };
    let first = lines[at].trim();
    let location = lines[at + 1..]
        .iter()
        .take(4)
        .find_map(|l| l.trim().strip_prefix("--> "))
        .map(|l| format!(" at {l}"))
        .unwrap_or_default();
    let detail = if first.contains("panicked at") {
        lines.get(at + 1).map(|l| format!(": {}", l.trim())).unwrap_or_default()
    } else {
        String::new()
    };
    format!("{first}{location}{detail}")
}
