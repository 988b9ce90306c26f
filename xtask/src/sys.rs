//! `cargo xtask sys`: builds every sample as a `.sys` without the WDK, and checks each image,
//! through cargo-wdm's builder and image checks (`cargo wdm build` / `check`): the samples and
//! a user's driver go through one implementation.

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use cargo_wdm::sys::{Built, TARGET};

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

/// Builds the given driver crates (samples, or the zero-cost pair) and checks every image,
/// through cargo-wdm's builder (the one `cargo wdm build` uses).
pub fn build(root: &Path, names: &[String]) -> Result<Vec<Built>, String> {
    cargo_wdm::sys::build(&cargo_wdm::sys::Request {
        dir: root.to_path_buf(),
        target_dir: root.join("target/sys"),
        out_dir: out_dir(root),
        drivers: names.iter().map(|n| (n.clone(), n.clone())).collect(),
        release: true,
    })
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
    use cargo_wdm::image::{Exports, check};

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    /// Builds minimal.sys once for all the tests here.
    fn minimal() -> &'static (Vec<u8>, Exports) {
        static BUILT: std::sync::OnceLock<(Vec<u8>, Exports)> = std::sync::OnceLock::new();
        BUILT.get_or_init(|| {
            let built = build(&root(), &["minimal".to_owned()]).expect("minimal.sys builds");
            let data = std::fs::read(&built[0].path).unwrap();
            (data, Exports::bundled().unwrap())
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

    #[test]
    fn memory_integrity_requirements_are_checked() {
        let (data, exports) = minimal();
        let pe_offset = u32::from_le_bytes(data[0x3c..0x40].try_into().unwrap()) as usize;
        let opt = pe_offset + 4 + 20;
        let has = |d: &[u8], what: &str| check(d, exports).problems.iter().any(|p| p.contains(what));
        let mut no_nx = data.clone();
        // DllCharacteristics at +70: NX_COMPAT is 0x0100, bit 0 of its high byte.
        no_nx[opt + 71] &= !0x01;
        assert!(has(&no_nx, "not NX-compatible"));
        let mut align = data.clone();
        align[opt + 32..opt + 36].copy_from_slice(&0x200u32.to_le_bytes());
        assert!(has(&align, "section alignment 0x200"));
        // The first section header's characteristics (the last field of its 40 bytes) gain
        // MEM_WRITE | MEM_EXECUTE.
        let opt_size = u16::from_le_bytes(data[pe_offset + 20..pe_offset + 22].try_into().unwrap()) as usize;
        let first = opt + opt_size;
        let mut wx = data.clone();
        let flags = u32::from_le_bytes(wx[first + 36..first + 40].try_into().unwrap()) | 0x8000_0000 | 0x2000_0000;
        wx[first + 36..first + 40].copy_from_slice(&flags.to_le_bytes());
        assert!(has(&wx, "both writable and executable"));
        assert!(
            !has(data, "HVCI"),
            "the built image passes: {:?}",
            check(data, exports).problems
        );
    }
}
