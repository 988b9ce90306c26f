//! `cargo xtask sys`: builds every sample as a `.sys` without the WDK, and checks each image.
//!
//! The samples are built for `x86_64-pc-windows-msvc` as `bin`s (a `cdylib` would be flagged as
//! a DLL and export its entry point) and linked by rust-lld in lld-link mode with the flags a
//! WDM driver needs. The flags are passed on the command line, not in `.cargo/config.toml`, so
//! the WDK path (`cargo make` on Windows) is untouched.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::pe::{Exports, Verdict, check};

/// The target every driver is built for.
pub const TARGET: &str = "x86_64-pc-windows-msvc";

/// Linker flags for a WDM driver.
const LINK_ARGS: &[&str] = &[
    "/DRIVER:WDM",
    "/SUBSYSTEM:NATIVE",
    "/ENTRY:DriverEntry",
    "/NODEFAULTLIB",
    "/OPT:REF,ICF",
    "/MANIFEST:NO",
    // Writes a correct PE checksum, which Windows checks for drivers.
    "/RELEASE",
];

/// One built driver.
pub struct Built {
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    pub verdict: Verdict,
}

/// The sample crates (folders under `samples/` with a driver binary).
pub fn samples(root: &Path) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let dir = root.join("samples");
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let manifest = entry.path().join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&manifest)
            && text.contains("[[bin]]")
            && text.contains("[package.metadata.wdk")
        {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Where the `.sys` files go.
pub fn out_dir(root: &Path) -> PathBuf {
    root.join("target/sys/drivers")
}

/// Builds the given driver crates (samples, or the zero-cost pair) and checks every image.
pub fn build(root: &Path, names: &[String]) -> Result<Vec<Built>, String> {
    crate::tools::ensure_rust_target(TARGET)?;
    let mut rustflags = vec!["-C".to_owned(), "target-feature=+crt-static".to_owned()];
    for arg in LINK_ARGS {
        rustflags.push("-C".into());
        rustflags.push(format!("link-arg={arg}"));
    }
    let flags = rustflags
        .iter()
        .map(|f| format!("\"{f}\""))
        .collect::<Vec<_>>()
        .join(",");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root)
        .args(["build", "--release", "--target", TARGET, "--target-dir", "target/sys"])
        .args(["--config", &format!("target.{TARGET}.linker=\"rust-lld\"")])
        .args(["--config", &format!("target.{TARGET}.rustflags=[{flags}]")])
        // Host-side settings must not leak into the driver build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    for name in names {
        cmd.args(["-p", name, "--bin", name]);
    }
    let status = cmd.status().map_err(|e| format!("cargo: {e}"))?;
    if !status.success() {
        return Err("the driver build failed".into());
    }
    let exports = Exports::load(&crate::bindings::sys_crate(root))?;
    let out = out_dir(root);
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let mut built = Vec::new();
    for name in names {
        let exe = root.join(format!("target/sys/{TARGET}/release/{name}.exe"));
        let sys = out.join(format!("{name}.sys"));
        std::fs::copy(&exe, &sys).map_err(|e| format!("{}: {e}", exe.display()))?;
        let data = std::fs::read(&sys).map_err(|e| e.to_string())?;
        built.push(Built {
            name: name.clone(),
            size: data.len() as u64,
            verdict: check(&data, &exports),
            path: sys,
        });
    }
    Ok(built)
}

/// `cargo xtask sys`.
pub fn command(root: &Path) -> Result<(), String> {
    let names = samples(root)?;
    let start = Instant::now();
    let built = build(root, &names)?;
    println!(
        "\nbuilt {} driver(s) in {:.1} s:",
        built.len(),
        start.elapsed().as_secs_f64()
    );
    for b in &built {
        println!("  {}", b.path.display());
    }
    println!("{:<12} {:>9} {:>8}  verdict", "sample", "bytes", "imports");
    let mut failed = 0;
    for b in &built {
        let verdict = if b.verdict.ok() {
            "ok".to_owned()
        } else {
            format!("FAILED: {}", b.verdict.problems.join("; "))
        };
        println!("{:<12} {:>9} {:>8}  {verdict}", b.name, b.size, b.verdict.imports.len());
        failed += usize::from(!b.verdict.ok());
    }
    if failed > 0 {
        return Err(format!("{failed} driver image(s) failed the checks"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    /// Builds minimal.sys once for all the tests here.
    fn minimal() -> &'static (Vec<u8>, Exports) {
        static BUILT: std::sync::OnceLock<(Vec<u8>, Exports)> = std::sync::OnceLock::new();
        BUILT.get_or_init(|| {
            let built = build(&root(), &["minimal".to_owned()]).expect("minimal.sys builds");
            let data = std::fs::read(&built[0].path).unwrap();
            (data, Exports::load(&crate::bindings::sys_crate(&root())).unwrap())
        })
    }

    #[test]
    fn minimal_sys_passes_every_check() {
        let (data, exports) = minimal();
        let v = check(data, exports);
        assert!(v.ok(), "{:?}", v.problems);
        assert!(
            v.imports
                .iter()
                .any(|(d, n)| d == "ntoskrnl.exe" && n == "IoCreateDevice")
        );
        assert!(v.imports.iter().all(|(d, _)| d == "ntoskrnl.exe"));
    }

    /// Patches the first occurrence of `from` with `to` (same length) and returns the problems.
    fn problems_after(from: &[u8], to: &[u8]) -> Vec<String> {
        let (data, exports) = minimal();
        let mut data = data.clone();
        let at = data
            .windows(from.len())
            .position(|w| w == from)
            .expect("pattern present");
        data[at..at + to.len()].copy_from_slice(to);
        check(&data, exports).problems
    }

    #[test]
    fn an_unknown_import_is_caught() {
        let p = problems_after(b"IoCreateDevice\0", b"IoCreateDevicX\0");
        assert!(p.iter().any(|p| p.contains("IoCreateDevicX")), "{p:?}");
    }

    #[test]
    fn an_import_from_another_dll_is_caught() {
        let p = problems_after(b"ntoskrnl.exe\0", b"kernel32.dll\0");
        assert!(p.iter().any(|p| p.contains("kernel32.dll")), "{p:?}");
    }

    #[test]
    fn a_changed_byte_breaks_the_checksum() {
        let p = problems_after(b"IoDeleteDevice\0", b"IoDeleteDevicE\0");
        assert!(p.iter().any(|p| p.contains("checksum")), "{p:?}");
    }

    #[test]
    fn header_fields_are_checked() {
        let (data, exports) = minimal();
        let pe_offset = u32::from_le_bytes(data[0x3c..0x40].try_into().unwrap()) as usize;
        // Optional header: subsystem at +68, DllCharacteristics at +70.
        let opt = pe_offset + 4 + 20;
        let mut console = data.clone();
        console[opt + 68] = 3;
        assert!(
            check(&console, exports)
                .problems
                .iter()
                .any(|p| p.contains("subsystem 3"))
        );
        let mut no_wdm = data.clone();
        no_wdm[opt + 71] &= !0x20;
        assert!(
            check(&no_wdm, exports)
                .problems
                .iter()
                .any(|p| p.contains("WDM-driver flag"))
        );
        let mut arm = data.clone();
        arm[pe_offset + 4..pe_offset + 6].copy_from_slice(&0xAA64u16.to_le_bytes());
        assert!(check(&arm, exports).problems.iter().any(|p| p.contains("not AMD64")));
    }
}
