//! `cargo xtask zero-cost`: the same small driver written with raw wdm-sys calls
//! (`crates/zero-cost-raw`) and with wdm (`crates/zero-cost-wdm`), compared two ways:
//! instructions per IOCTL round trip in the driver's dispatch path on the simulator (callgrind,
//! exact and repeatable), and the `.text` size of both as `.sys` files.

use std::path::Path;
use std::process::Command;

use object::{Object, ObjectSection};

/// Instructions callgrind counts inside `function` (inclusive) for `n` IOCTLs.
fn instructions(bench: &Path, driver: &str, function: &str, n: usize) -> Result<u64, String> {
    let out_file = std::env::temp_dir().join(format!("wdm-zc-{driver}-{n}-{}.cg", std::process::id()));
    let out = Command::new("valgrind")
        .args(["--tool=callgrind", &format!("--toggle-collect={function}")])
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(bench)
        .env("WDM_ZC_DRIVER", driver)
        .env("WDM_ZC_N", n.to_string())
        .output()
        .map_err(|e| format!("valgrind: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the zero-cost bench failed under valgrind: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_file(&out_file);
    stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "no instruction count in callgrind's output".to_owned())
}

fn text_size(path: &Path) -> Result<u64, String> {
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let file = object::File::parse(&*data).map_err(|e| e.to_string())?;
    file.section_by_name(".text")
        .map(|s| s.size())
        .ok_or_else(|| format!("{}: no .text", path.display()))
}

/// `cargo xtask zero-cost`.
pub fn command(root: &Path) -> Result<(), String> {
    cargo_wdm::tools::ensure_packages(&["valgrind"])?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(["bench", "--no-run", "-p", "wdm", "--bench", "zero_cost"])
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("building the zero-cost bench failed".into());
    }
    let bench = std::fs::read_dir(root.join("target/release/deps"))
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("zero_cost-") && p.extension().is_none()
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .ok_or("zero-cost bench binary not found")?;
    let (n1, n2) = (1000, 2000);
    let per_call = |driver: &str, function: &str| -> Result<f64, String> {
        let a = instructions(&bench, driver, function, n1)?;
        let b = instructions(&bench, driver, function, n2)?;
        Ok((b - a) as f64 / (n2 - n1) as f64)
    };
    let raw = per_call("raw", "zero_cost_raw::reverse")?;
    let safe = per_call("wdm", "*Glue*dispatch*")?;
    let built = crate::sys::build(root, &["zero-cost-raw".to_owned(), "zero-cost-wdm".to_owned()])?;
    let raw_text = text_size(&built[0].path)?;
    let safe_text = text_size(&built[1].path)?;
    println!("\nzero cost: one buffered IOCTL (reverse 8 bytes), dispatch path inclusive of completion");
    println!("{:<18} {:>14} {:>12}", "", "instr/IOCTL", ".text bytes");
    println!("{:<18} {:>14.1} {:>12}", "raw wdm-sys", raw, raw_text);
    println!("{:<18} {:>14.1} {:>12}", "wdm", safe, safe_text);
    println!(
        "{:<18} {:>14.3} {:>12.3}",
        "ratio wdm/raw",
        safe / raw,
        safe_text as f64 / raw_text as f64
    );
    Ok(())
}
