//! `cargo wdm new` end to end: the crate it makes, in a folder outside this workspace, passes
//! its tests as made; its driver and its client compile for their Windows targets; it is
//! formatted; and a name of any length still gives formatted code.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use cargo_wdm::new::{Deps, Guid, Kind, files, generate};
use common::{GUIDE_NAME, GUIDE_PNP_NAME, fresh_dir, repo};

/// Cargo, run in `dir` as a user would run it there: without the outer cargo's `CARGO_*`
/// variables (so nothing of this workspace leaks in), with a target folder shared by reruns.
fn cargo(dir: &Path, args: &[&str]) -> Result<String, String> {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(dir).args(args);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" {
            command.env_remove(&*key);
        }
    }
    command
        .env("CARGO_TARGET_DIR", repo().join("target/cargo-wdm-new"))
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTDOCFLAGS");
    let start = Instant::now();
    let out = command.output().map_err(|e| format!("cargo: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("cargo {} ({:.1} s)", args.join(" "), start.elapsed().as_secs_f64());
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("cargo {} failed in {}:\n{text}", args.join(" "), dir.display()))
    }
}

/// Whether the toolchain has the standard library for `target`.
fn has_target(target: &str) -> bool {
    let out = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", target])
        .output();
    out.is_ok_and(|o| o.status.success() && Path::new(String::from_utf8_lossy(&o.stdout).trim()).is_dir())
}

/// Runs a Windows-target check, or says NOT RUN when the target is missing (unless
/// `WDM_REQUIRE_TOOLS` is set, as `cargo xtask test` sets it).
fn windows_check(dir: &Path, target: &str, args: &[&str]) {
    if !has_target(target) && std::env::var_os("WDM_REQUIRE_TOOLS").is_none() {
        println!("NOT RUN: cargo {} (rustup target add {target})", args.join(" "));
        return;
    }
    cargo(dir, args).unwrap();
}

/// Makes crate `name` of `kind` outside the workspace, checks that it is formatted, runs its
/// tests (`passed` of them) and compiles its driver and its client for Windows.
fn generated_crate_passes_its_tests_and_compiles_for_windows(tag: &str, name: &str, kind: &Kind, passed: usize) {
    let parent = fresh_dir(tag);
    let dir = parent.join(name);
    let deps = Deps::default_source().unwrap();
    let written = generate(&dir, name, &deps, kind).unwrap();
    // Exactly the rendered files (rustfmt, which `generate` runs, changed nothing): the
    // listings tests/guide.rs compares the guide with are the files compiled here.
    for (path, text) in files(name, &deps, kind).unwrap() {
        assert!(written.contains(&dir.join(&path)));
        let on_disk = std::fs::read_to_string(dir.join(&path)).unwrap();
        assert!(
            on_disk == text,
            "{} is not formatted as rustfmt formats it",
            path.display()
        );
    }
    // The repository's lock file as a starting point: the versions it was tested with, and
    // no dependence on what crates.io publishes meanwhile (cargo drops what is not used).
    std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();

    let out = cargo(&dir, &["test"]).unwrap();
    assert!(out.contains(&format!("test result: ok. {passed} passed")), "{out}");
    // The driver as the kernel build compiles it, and the client for Windows.
    let bin = name.replace('-', "_");
    windows_check(
        &dir,
        "x86_64-pc-windows-msvc",
        &["check", "--target", "x86_64-pc-windows-msvc", "--bin", &bin],
    );
    let client = format!("{name}-client");
    windows_check(
        &dir,
        "x86_64-pc-windows-gnu",
        &["check", "--target", "x86_64-pc-windows-gnu", "-p", &client],
    );
    // On the host the client says what it is for, and exits 2.
    let run = cargo(&dir, &["run", "-q", "-p", &client]).unwrap_err();
    assert!(run.contains("build it for x86_64-pc-windows-gnu"), "{run}");
    std::fs::remove_dir_all(&parent).unwrap();
}

#[test]
fn the_generated_crate_passes_its_tests_and_compiles_for_windows() {
    generated_crate_passes_its_tests_and_compiles_for_windows("new", GUIDE_NAME, &Kind::Legacy, 7);
}

/// The PnP crate, with a random interface GUID as `cargo wdm new --pnp` makes it.
#[test]
fn the_generated_pnp_crate_passes_its_tests_and_compiles_for_windows() {
    let kind = Kind::Pnp(Guid::random());
    generated_crate_passes_its_tests_and_compiles_for_windows("new-pnp", GUIDE_PNP_NAME, &kind, 10);
}

#[test]
fn a_long_name_still_gives_formatted_code() {
    let name = "a-rather-long-driver-name-that-pushes-every-line-wide";
    for kind in [Kind::Legacy, Kind::Pnp(Guid::random())] {
        let dir = fresh_dir("long");
        generate(&dir, name, &Deps::Path(repo()), &kind).unwrap();
        let rust = [
            "src/lib.rs",
            "src/main.rs",
            "tests/sim.rs",
            "build.rs",
            "client/src/main.rs",
        ];
        let status = Command::new("rustfmt")
            .args(["--check", "--edition", "2024"])
            .args(rust.map(|f| dir.join(f)))
            .status();
        match status {
            Ok(s) => assert!(s.success(), "rustfmt --check found unformatted code ({kind:?})"),
            Err(e) => println!("NOT RUN: rustfmt: {e}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Every capitalised name the driver's code uses is one a crate name may not turn into (the
/// driver's type is named after the crate and would shadow it).
#[test]
fn the_taken_type_names_cover_the_templates() {
    let mut generated = files("x", &Deps::Path(repo()), &Kind::Legacy).unwrap();
    generated.extend(files("x", &Deps::Path(repo()), &Kind::Pnp(Guid::random())).unwrap());
    let mut missing = Vec::new();
    for (path, text) in &generated {
        if !["src/lib.rs", "src/main.rs", "tests/sim.rs"].contains(&path.to_str().unwrap()) {
            continue;
        }
        // The code without comments and string literals (none of the templates' strings holds
        // an escaped quote).
        let mut code = String::new();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            let line = line.split(" // ").next().unwrap();
            code.extend(line.split('"').step_by(2).flat_map(|s| s.chars().chain(Some(' '))));
            code.push('\n');
        }
        for word in code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            let camel =
                word.starts_with(|c: char| c.is_ascii_uppercase()) && word.contains(|c: char| c.is_ascii_lowercase());
            if camel
                && word != "X"
                && !cargo_wdm::new::TAKEN_TYPES.contains(&word)
                && !missing.iter().any(|m| m == word)
            {
                missing.push(word.to_owned());
            }
        }
    }
    missing.retain(|w| w != "Self"); // a keyword
    assert!(missing.is_empty(), "add to TAKEN_TYPES: {missing:?}");
}
