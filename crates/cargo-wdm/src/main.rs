//! `cargo wdm <command>`. Cargo runs a subcommand as `cargo-wdm wdm <command> ...`.

use std::process::ExitCode;

const USAGE: &str = "usage: cargo wdm new <name> [options] (cargo wdm new --help)";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("wdm") {
        args.remove(0);
    }
    let result = match args.first().map(String::as_str) {
        Some("new") => cargo_wdm::new::command(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
