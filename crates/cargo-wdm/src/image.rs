//! Checks that a file is a kernel driver image Windows would load (`cargo wdm check`): PE32+
//! AMD64, NATIVE subsystem, the WDM-driver flag, not a DLL, an entry point, a correct checksum,
//! imports only from ntoskrnl.exe and HAL.dll and only names they export; what memory
//! integrity (HVCI) requires of a driver: sections aligned to 0x1000, none both writable and
//! executable, NX-compatible; and warnings for imports Wine 8 only stubs.

use std::collections::BTreeSet;

use object::LittleEndian as LE;
use object::pe::{
    IMAGE_DLLCHARACTERISTICS_NX_COMPAT, IMAGE_DLLCHARACTERISTICS_WDM_DRIVER, IMAGE_FILE_DLL, IMAGE_FILE_MACHINE_AMD64,
    IMAGE_NT_OPTIONAL_HDR64_MAGIC, IMAGE_SCN_MEM_EXECUTE, IMAGE_SCN_MEM_WRITE, IMAGE_SUBSYSTEM_NATIVE,
    ImageNtHeaders64,
};
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, Import, PeFile64};

/// The DLLs a driver may import from.
pub const KERNEL_DLLS: [&str; 2] = ["ntoskrnl.exe", "HAL.dll"];

/// The names each kernel DLL exports (mingw-w64's lists plus the documented supplement).
///
/// ```
/// let exports = cargo_wdm::image::Exports::bundled().unwrap();
/// assert_eq!(exports.by_dll.len(), 2);
/// ```
pub struct Exports {
    /// `(dll, names)` for ntoskrnl.exe and HAL.dll.
    pub by_dll: Vec<(String, BTreeSet<String>)>,
}

impl Exports {
    /// The lists wdm-sys carries (`wdm_sys::exports`).
    ///
    /// ```
    /// let exports = cargo_wdm::image::Exports::bundled().unwrap();
    /// assert!(exports.by_dll.iter().any(|(dll, names)| dll == "ntoskrnl.exe" && names.contains("IoCreateDevice")));
    /// ```
    pub fn bundled() -> Result<Self, String> {
        let list = |text: &str| -> BTreeSet<String> {
            text.lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let mut by_dll = vec![
            ("ntoskrnl.exe".to_owned(), list(wdm_sys::exports::NTOSKRNL)),
            ("HAL.dll".to_owned(), list(wdm_sys::exports::HAL)),
        ];
        // Supplement lines: `<dll> <name> <since which Windows>`.
        for line in wdm_sys::exports::SUPPLEMENT
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let mut f = line.split_whitespace();
            let (Some(dll), Some(name)) = (f.next(), f.next()) else {
                return Err(format!("exports supplement: bad line `{line}`"));
            };
            let set = by_dll
                .iter_mut()
                .find(|(d, _)| d == dll)
                .ok_or_else(|| format!("exports supplement: unknown DLL {dll}"))?;
            set.1.insert(name.to_owned());
        }
        Ok(Self { by_dll })
    }

    fn has(&self, dll: &str, name: &str) -> bool {
        self.by_dll
            .iter()
            .any(|(d, names)| d.eq_ignore_ascii_case(dll) && names.contains(name))
    }
}

/// What the check found.
///
/// ```
/// let v = cargo_wdm::image::check(b"not a PE file", &cargo_wdm::image::Exports::bundled().unwrap());
/// assert!(!v.ok() && v.problems[0].contains("not a PE32+ image"));
/// ```
#[derive(Debug, Default)]
pub struct Verdict {
    /// `(dll, name)` of every import.
    pub imports: Vec<(String, String)>,
    /// Everything wrong; empty means the image passes.
    pub problems: Vec<String>,
    /// What is allowed but worth knowing (imports Wine 8 only stubs).
    pub warnings: Vec<String>,
}

impl Verdict {
    /// Whether the image passes (warnings do not count).
    ///
    /// ```
    /// assert!(cargo_wdm::image::Verdict::default().ok());
    /// ```
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// One line: `ok`, `ok (N warnings)` or `FAILED: <problems>`.
    ///
    /// ```
    /// assert_eq!(cargo_wdm::image::Verdict::default().summary(), "ok");
    /// ```
    pub fn summary(&self) -> String {
        match (self.ok(), self.warnings.len()) {
            (true, 0) => "ok".into(),
            (true, n) => format!("ok ({n} warning{})", if n == 1 { "" } else { "s" }),
            (false, _) => format!("FAILED: {}", self.problems.join("; ")),
        }
    }
}

/// The PE checksum (the field `/RELEASE` fills and Windows checks for drivers): 16-bit one's-complement sum of the file with the checksum field taken as
/// zero, plus the file length.
pub fn checksum(data: &[u8], checksum_offset: usize) -> u32 {
    let mut sum: u64 = 0;
    for (i, chunk) in data.chunks(2).enumerate() {
        if i * 2 == checksum_offset || i * 2 == checksum_offset + 2 {
            continue;
        }
        let word = u64::from(chunk[0]) | chunk.get(1).map_or(0, |&b| u64::from(b) << 8);
        sum += word;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    (sum as u32).wrapping_add(data.len() as u32)
}

/// Checks `data` as an x64 WDM driver importing only known kernel exports.
///
/// ```
/// use cargo_wdm::image::{check, Exports};
/// let v = check(&[0u8; 64], &Exports::bundled().unwrap());
/// assert!(!v.ok());
/// ```
pub fn check(data: &[u8], exports: &Exports) -> Verdict {
    let mut v = Verdict::default();
    let pe = match PeFile64::parse(data) {
        Ok(pe) => pe,
        Err(e) => {
            v.problems.push(format!("not a PE32+ image: {e}"));
            return v;
        }
    };
    let nt = pe.nt_headers();
    let fh = &nt.file_header;
    let oh = nt.optional_header();
    if fh.machine.get(LE) != IMAGE_FILE_MACHINE_AMD64 {
        v.problems.push(format!("machine {:#x}, not AMD64", fh.machine.get(LE)));
    }
    if oh.magic() != IMAGE_NT_OPTIONAL_HDR64_MAGIC {
        v.problems.push("not PE32+".into());
    }
    if oh.subsystem() != IMAGE_SUBSYSTEM_NATIVE {
        v.problems.push(format!("subsystem {}, not NATIVE (1)", oh.subsystem()));
    }
    if oh.dll_characteristics() & IMAGE_DLLCHARACTERISTICS_WDM_DRIVER == 0 {
        v.problems
            .push("the WDM-driver flag (IMAGE_DLLCHARACTERISTICS_WDM_DRIVER) is not set".into());
    }
    if fh.characteristics.get(LE) & IMAGE_FILE_DLL != 0 {
        v.problems.push("flagged as a DLL".into());
    }
    if oh.address_of_entry_point() == 0 {
        v.problems.push("no entry point".into());
    }
    // The checksum field sits 64 bytes into the optional header.
    let checksum_offset =
        pe.dos_header().nt_headers_offset() as usize + 4 + size_of::<object::pe::ImageFileHeader>() + 64;
    let stored = oh.check_sum();
    let computed = checksum(data, checksum_offset);
    if stored != computed {
        v.problems
            .push(format!("checksum {stored:#x} in the header, {computed:#x} computed"));
    }
    // Memory integrity (HVCI): Windows refuses to load a driver whose sections are not page
    // aligned, that has a section both writable and executable, or that is not NX-compatible.
    if oh.section_alignment() == 0 || oh.section_alignment() % 0x1000 != 0 {
        v.problems.push(format!(
            "section alignment {:#x}, not a multiple of 0x1000 (memory integrity, HVCI, requires page-aligned sections)",
            oh.section_alignment()
        ));
    }
    if oh.dll_characteristics() & IMAGE_DLLCHARACTERISTICS_NX_COMPAT == 0 {
        v.problems
            .push("not NX-compatible (IMAGE_DLLCHARACTERISTICS_NX_COMPAT; memory integrity, HVCI, requires it)".into());
    }
    for section in pe.section_table().iter() {
        let flags = section.characteristics.get(LE);
        if flags & IMAGE_SCN_MEM_WRITE != 0 && flags & IMAGE_SCN_MEM_EXECUTE != 0 {
            let name = String::from_utf8_lossy(section.raw_name()).into_owned();
            v.problems.push(format!(
                "section {name} is both writable and executable (memory integrity, HVCI, refuses it)"
            ));
        }
    }
    match imports(&pe) {
        Ok(list) => v.imports = list,
        Err(e) => v.problems.push(e),
    }
    v.warnings.extend(stub_warnings(&v.imports));
    for (routine, effect) in crate::wine::WINE_NO_OPS {
        if v.imports
            .iter()
            .any(|(dll, name)| dll == "ntoskrnl.exe" && name == routine)
        {
            v.warnings
                .push(format!("imports {routine}, which does nothing under Wine 8: {effect}"));
        }
    }
    for (dll, name) in &v.imports {
        // The loader compares DLL names without regard to case.
        if !KERNEL_DLLS.iter().any(|k| k.eq_ignore_ascii_case(dll)) {
            v.problems.push(format!(
                "imports {name} from {dll}; a driver may only import from ntoskrnl.exe and HAL.dll"
            ));
        } else if !exports.has(dll, name) {
            v.problems
                .push(format!("imports {dll}!{name}, which {dll} does not export"));
        }
    }
    v
}

fn imports(pe: &PeFile64<'_>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let Some(table) = pe.import_table().map_err(|e| e.to_string())? else {
        return Ok(out);
    };
    let mut descriptors = table.descriptors().map_err(|e| e.to_string())?;
    while let Some(d) = descriptors.next().map_err(|e| e.to_string())? {
        let dll = String::from_utf8_lossy(table.name(d.name.get(LE)).map_err(|e| e.to_string())?).into_owned();
        let first = match d.original_first_thunk.get(LE) {
            0 => d.first_thunk.get(LE),
            t => t,
        };
        let mut thunks = table.thunks(first).map_err(|e| e.to_string())?;
        while let Some(thunk) = thunks.next::<ImageNtHeaders64>().map_err(|e| e.to_string())? {
            match table.import::<ImageNtHeaders64>(thunk).map_err(|e| e.to_string())? {
                Import::Name(_, name) => out.push((dll.clone(), String::from_utf8_lossy(name).into_owned())),
                Import::Ordinal(n) => return Err(format!("imports ordinal {n} from {dll}: drivers import by name")),
            }
        }
    }
    Ok(out)
}

/// The warnings for the Wine 8 stubs among `imports`: those the framework never reaches there
/// ([`crate::wine::WINE_STUBS_UNREACHED`], with the reason), those the wdm patch implements, and
/// those it does not.
fn stub_warnings(imports: &[(String, String)]) -> Vec<String> {
    let mut warnings = Vec::new();
    let stubbed: Vec<&str> = imports
        .iter()
        .filter(|(dll, name)| {
            dll.eq_ignore_ascii_case("ntoskrnl.exe") && crate::wine::WINE_STUBS.contains(&name.as_str())
        })
        .map(|(_, name)| name.as_str())
        .collect();
    for (name, why) in crate::wine::WINE_STUBS_UNREACHED {
        if stubbed.contains(name) {
            warnings.push(format!(
                "imports {name}, which Wine 8 only stubs (a call kills winedevice.exe): it is {why}, so it runs on stock Wine"
            ));
        }
    }
    let reached = crate::wine::stubs_reached(stubbed);
    let (patched, not): (Vec<&str>, Vec<&str>) = reached.iter().partition(|n| !crate::wine::NOT_PATCHED.contains(n));
    if !patched.is_empty() {
        warnings.push(format!(
            "imports {} that Wine 8 only stubs: under Wine it runs with the wdm ntoskrnl patch (cargo wdm run applies it)",
            patched.join(", ")
        ));
    }
    if !not.is_empty() {
        warnings.push(format!(
            "imports {} that Wine 8 only stubs (or lacks), and the wdm patch does not add: it cannot run under Wine 8",
            not.join(", ")
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PoRequestPowerIrp (wdm::pnp's S-IRP path, never taken under Wine) is named with its
    /// reason and does not make the driver "cannot run"; a stub the patch lacks still does.
    #[test]
    fn an_unreached_stub_is_named_but_does_not_block_wine() {
        let imports = |names: &[&str]| -> Vec<(String, String)> {
            names
                .iter()
                .map(|n| ("ntoskrnl.exe".to_owned(), (*n).to_owned()))
                .collect()
        };
        let w = stub_warnings(&imports(&["IoCompleteRequest", "PoRequestPowerIrp"]));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("PoRequestPowerIrp") && w[0].contains("never sends"),
            "{w:?}"
        );
        assert!(!w[0].contains("cannot run"), "{w:?}");
        let w = stub_warnings(&imports(&["PoRequestPowerIrp", "IoStartPacket", "IoWMIWriteEvent"]));
        assert!(
            w.iter()
                .any(|l| l.contains("IoStartPacket") && l.contains("wdm ntoskrnl patch")),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|l| l.contains("IoWMIWriteEvent") && l.contains("cannot run")),
            "{w:?}"
        );
        assert!(
            !w.iter()
                .any(|l| l.contains("cannot run") && l.contains("PoRequestPowerIrp")),
            "{w:?}"
        );
    }

    #[test]
    fn checksum_of_a_known_buffer() {
        // Eight bytes, checksum field (offset 2..6) zeroed: words 0x0201 + 0x0807 = 0x0A08,
        // plus the length 8.
        let data = [1u8, 2, 0xFF, 0xFF, 0xFF, 0xFF, 7, 8];
        assert_eq!(checksum(&data, 2), 0x0A08 + 8);
    }
}
