//! Checks that a file is a kernel driver image Windows would load.

use std::collections::BTreeSet;
use std::path::Path;

use object::LittleEndian as LE;
use object::pe::{
    IMAGE_DLLCHARACTERISTICS_WDM_DRIVER, IMAGE_FILE_DLL, IMAGE_FILE_MACHINE_AMD64, IMAGE_NT_OPTIONAL_HDR64_MAGIC,
    IMAGE_SUBSYSTEM_NATIVE, ImageNtHeaders64,
};
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, Import, PeFile64};

/// The DLLs a driver may import from.
pub const KERNEL_DLLS: [&str; 2] = ["ntoskrnl.exe", "HAL.dll"];

/// The names each kernel DLL exports (mingw-w64's lists plus the documented supplement).
pub struct Exports {
    pub by_dll: Vec<(String, BTreeSet<String>)>,
}

impl Exports {
    /// Reads `exports/<dll>.txt` and `exports/supplement.txt` from the wdm-sys crate.
    pub fn load(sys_crate: &Path) -> Result<Self, String> {
        let read = |name: &str| {
            std::fs::read_to_string(sys_crate.join("exports").join(name)).map_err(|e| format!("exports/{name}: {e}"))
        };
        let mut by_dll = Vec::new();
        for dll in KERNEL_DLLS {
            let names: BTreeSet<String> = read(&format!("{dll}.txt"))?
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .map(str::to_owned)
                .collect();
            by_dll.push((dll.to_owned(), names));
        }
        // Supplement lines: `<dll> <name> <since which Windows>`.
        for line in read("supplement.txt")?
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let mut f = line.split_whitespace();
            let (Some(dll), Some(name)) = (f.next(), f.next()) else {
                return Err(format!("exports/supplement.txt: bad line `{line}`"));
            };
            let set = by_dll
                .iter_mut()
                .find(|(d, _)| d == dll)
                .ok_or_else(|| format!("exports/supplement.txt: unknown DLL {dll}"))?;
            set.1.insert(name.to_owned());
        }
        Ok(Self { by_dll })
    }

    fn has(&self, dll: &str, name: &str) -> bool {
        self.by_dll.iter().any(|(d, names)| d == dll && names.contains(name))
    }
}

/// What the check found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// `(dll, name)` of every import.
    pub imports: Vec<(String, String)>,
    /// Everything wrong; empty means the image passes.
    pub problems: Vec<String>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The PE checksum: 16-bit one's-complement sum of the file with the checksum field taken as
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
    match imports(&pe) {
        Ok(list) => v.imports = list,
        Err(e) => v.problems.push(e),
    }
    for (dll, name) in &v.imports {
        if !KERNEL_DLLS.contains(&dll.as_str()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_known_buffer() {
        // Eight bytes, checksum field (offset 2..6) zeroed: words 0x0201 + 0x0807 = 0x0A08,
        // plus the length 8.
        let data = [1u8, 2, 0xFF, 0xFF, 0xFF, 0xFF, 7, 8];
        assert_eq!(checksum(&data, 2), 0x0A08 + 8);
    }
}
