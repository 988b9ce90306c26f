//! `cargo xtask bindings`: the bundled bindings of `wdm-sys` and the kernel export lists.
//!
//! The bindings come from the DDK headers of Debian's `mingw-w64-x86-64-dev` (ReactOS DDK,
//! public domain), parsed by clang for `x86_64-pc-windows-gnu`, with the bindgen settings that
//! `wdk-build` uses for `wdk-sys`. Only a curated allowlist is generated, so the surface that must
//! agree with `wdk-sys` stays small and reviewable.

use std::path::{Path, PathBuf};
use std::process::Command;

use bindgen::callbacks::{AttributeInfo, IntKind, ParseCallbacks};

/// Where the DDK headers live once `mingw-w64-x86-64-dev` is installed.
pub const MINGW_INCLUDE: &str = "/usr/share/mingw-w64/include";
/// mingw-w64's import libraries, the source of the export lists.
pub const MINGW_LIB: &str = "/usr/x86_64-w64-mingw32/lib";

/// Routines imported from `ntoskrnl.exe`.
const NTOSKRNL_FUNCTIONS: &[&str] = &[
    // Driver and device objects, symbolic links.
    "IoCreateDevice",
    "IoDeleteDevice",
    "IoCreateSymbolicLink",
    "IoDeleteSymbolicLink",
    "IoAttachDeviceToDeviceStack",
    "IoDetachDevice",
    "IoGetAttachedDeviceReference",
    "IoAllocateDriverObjectExtension",
    "IoGetDriverObjectExtension",
    // Remove locks (IoAcquireRemoveLock etc. are macros over these: wdm-sys's `inline`).
    "IoInitializeRemoveLockEx",
    "IoAcquireRemoveLockEx",
    "IoReleaseRemoveLockEx",
    "IoReleaseRemoveLockAndWaitEx",
    "IoRegisterDeviceInterface",
    "IoSetDeviceInterfaceState",
    "IoInvalidateDeviceRelations",
    "IoInvalidateDeviceState",
    "IoWMIRegistrationControl",
    "PoRequestPowerIrp",
    "PoSetPowerState",
    "PoCallDriver",
    "PoStartNextPowerIrp",
    "RtlFreeUnicodeString",
    // IRPs: allocation, forwarding, completion, cancellation.
    "IoAllocateIrp",
    "IoFreeIrp",
    "IoInitializeIrp",
    "IoReuseIrp",
    "IofCallDriver",
    "IofCompleteRequest",
    "IoCancelIrp",
    "IoAcquireCancelSpinLock",
    "IoReleaseCancelSpinLock",
    // Device queues and StartIo.
    "IoStartPacket",
    "IoStartNextPacket",
    "IoStartNextPacketByKey",
    "IoSetStartIoAttributes",
    "KeInitializeDeviceQueue",
    "KeInsertDeviceQueue",
    "KeInsertByKeyDeviceQueue",
    "KeRemoveDeviceQueue",
    "KeRemoveByKeyDeviceQueue",
    "KeRemoveByKeyDeviceQueueIfBusy",
    "KeRemoveEntryDeviceQueue",
    // Cancel-safe queues.
    "IoCsqInitialize",
    "IoCsqInitializeEx",
    "IoCsqInsertIrp",
    "IoCsqInsertIrpEx",
    "IoCsqRemoveIrp",
    "IoCsqRemoveNextIrp",
    // IRQL and spin locks (the x64 inline forms are in wdm-sys's `inline` module).
    "KeAcquireSpinLockRaiseToDpc",
    "KeReleaseSpinLock",
    "KeAcquireSpinLockAtDpcLevel",
    "KeReleaseSpinLockFromDpcLevel",
    "KeGetCurrentProcessorNumberEx",
    "KeQueryActiveProcessorCount",
    // Timers, DPCs, events, waits.
    "KeInitializeTimer",
    "KeInitializeTimerEx",
    "KeSetTimer",
    "KeSetTimerEx",
    "KeCancelTimer",
    "KeReadStateTimer",
    "KeInitializeDpc",
    "KeInsertQueueDpc",
    "KeRemoveQueueDpc",
    "KeFlushQueuedDpcs",
    "KeInitializeEvent",
    "KeSetEvent",
    "KeClearEvent",
    "KeResetEvent",
    "KeReadStateEvent",
    "KeWaitForSingleObject",
    "KeDelayExecutionThread",
    "KeBugCheckEx",
    // Work items and system threads.
    "IoAllocateWorkItem",
    "IoFreeWorkItem",
    "IoQueueWorkItem",
    "PsCreateSystemThread",
    "PsTerminateSystemThread",
    "ObReferenceObjectByHandle",
    "ObfReferenceObject",
    "ObfDereferenceObject",
    "ZwClose",
    // Memory: pool and MDLs.
    "ExAllocatePoolWithTag",
    "ExFreePoolWithTag",
    "IoAllocateMdl",
    "IoFreeMdl",
    "MmBuildMdlForNonPagedPool",
    "MmProbeAndLockPages",
    "MmUnlockPages",
    "MmMapLockedPagesSpecifyCache",
    "MmGetSystemRoutineAddress",
    // Strings and debug output.
    "RtlInitUnicodeString",
    "RtlCompareMemory",
    "DbgPrint",
    "DbgPrintEx",
    "DbgBreakPoint",
];

/// Routines imported from `HAL.dll`.
const HAL_FUNCTIONS: &[&str] = &["KeStallExecutionProcessor", "KeQueryPerformanceCounter"];

/// Types the framework uses directly (functions pull in the rest).
const TYPES: &[&str] = &[
    "IRP",
    "PIRP",
    "IO_STACK_LOCATION",
    "PIO_STACK_LOCATION",
    "DEVICE_OBJECT",
    "PDEVICE_OBJECT",
    "DRIVER_OBJECT",
    "PDRIVER_OBJECT",
    "DRIVER_EXTENSION",
    "DEVOBJ_EXTENSION",
    "KDEVICE_QUEUE",
    "PKDEVICE_QUEUE",
    "FILE_OBJECT",
    "PFILE_OBJECT",
    "KDEVICE_QUEUE_ENTRY",
    "IO_CSQ",
    "IO_CSQ_IRP_CONTEXT",
    "PIO_CSQ_IRP_CONTEXT",
    "MDL",
    "PMDL",
    "KDPC",
    "KTIMER",
    "KEVENT",
    "IO_REMOVE_LOCK",
    "PIO_REMOVE_LOCK",
    "DRIVER_DISPATCH",
    "PDRIVER_DISPATCH",
    "DRIVER_CANCEL",
    "PDRIVER_CANCEL",
    "DRIVER_STARTIO",
    "DRIVER_UNLOAD",
    "DRIVER_INITIALIZE",
    "IO_COMPLETION_ROUTINE",
    "PIO_COMPLETION_ROUTINE",
    "KDEFERRED_ROUTINE",
    "IO_WORKITEM_ROUTINE",
    "KSTART_ROUTINE",
    "DEVICE_TYPE",
    "POOL_TYPE",
    "MEMORY_CACHING_TYPE",
    "MM_PAGE_PRIORITY",
    "LOCK_OPERATION",
    "WORK_QUEUE_TYPE",
    "EVENT_TYPE",
    "TIMER_TYPE",
    "KWAIT_REASON",
    "KPROCESSOR_MODE",
    "MODE",
    "DPFLTR_TYPE",
    "LIST_ENTRY",
    "PLIST_ENTRY",
    "KSPIN_LOCK",
    "PKSPIN_LOCK",
    "UNICODE_STRING",
    "PUNICODE_STRING",
    "IO_STATUS_BLOCK",
    "LARGE_INTEGER",
    "POWER_STATE",
    "POWER_STATE_TYPE",
    "SYSTEM_POWER_STATE",
    "DEVICE_POWER_STATE",
    "POWER_ACTION",
    "REQUEST_POWER_COMPLETE",
    "PREQUEST_POWER_COMPLETE",
    "DEVICE_CAPABILITIES",
    "PDEVICE_CAPABILITIES",
    "DEVICE_RELATIONS",
    "PDEVICE_RELATIONS",
    "DEVICE_RELATION_TYPE",
    "BUS_QUERY_ID_TYPE",
    "CM_RESOURCE_LIST",
    "PCM_RESOURCE_LIST",
    "GUID",
    "DRIVER_ADD_DEVICE",
    "PDRIVER_ADD_DEVICE",
];

/// Constants, by pattern.
const VARS: &[&str] = &[
    "STATUS_.*",
    "IRP_MJ_.*",
    "IRP_MN_.*",
    "IRP_[A-Z_]*",
    "FILE_DEVICE_.*",
    "FILE_(ANY|READ|WRITE)_(ACCESS|DATA)",
    "FILE_SPECIAL_ACCESS",
    "FILE_DEVICE_SECURE_OPEN",
    "METHOD_.*",
    "DO_.*",
    "SL_.*",
    "IO_NO_INCREMENT",
    "IO_TYPE_.*",
    "IO_.*_INCREMENT",
    "(PASSIVE|LOW|APC|DISPATCH|CMCI|CLOCK|IPI|POWER|PROFILE|HIGH|SYNCH)_LEVEL",
    "DPFLTR_.*",
    "MAXIMUM_PROCESSORS",
    "MDL_.*",
    "THREAD_ALL_ACCESS",
    "OBJ_KERNEL_HANDLE",
    "NormalPagePriority",
    "MdlMappingNoExecute",
    "PNP_DEVICE_.*",
    "WMIREG_ACTION_.*",
    "WMIREG_FLAG_.*",
];

/// Structures the WDK declares `DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT)` and mingw does not.
/// `(name, mingw size, Windows size, mingw alignment)`: IRP keeps its size (0xD0 is a multiple
/// of 16); DEVICE_OBJECT grows from 0x148 to 0x150 as on Windows x64.
const ALIGN16: &[(&str, usize, usize, usize)] = &[("_IRP", 208, 208, 8), ("_DEVICE_OBJECT", 328, 336, 8)];

/// The generated files of `wdm-sys`, as text.
pub struct Generated {
    pub types: String,
    pub ntddk: String,
    pub hal: String,
}

/// What the header input looks like: everything a WDM driver includes.
const WRAPPER: &str = "#include <ntddk.h>\n";

/// The wrapper header on disk: bindgen's macro fallback (which evaluates the cast-style
/// `STATUS_*` macros) only sees headers given as files.
fn wrapper_file() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wdm-bindings-{}", std::process::id()));
    let path = dir.join("wdm-sys.h");
    std::fs::create_dir_all(&dir).expect("temporary folder");
    std::fs::write(&path, WRAPPER).expect("temporary header");
    path
}

#[derive(Debug)]
struct Callbacks;

impl ParseCallbacks for Callbacks {
    fn int_macro(&self, name: &str, _value: i64) -> Option<IntKind> {
        // wdk-sys types every NTSTATUS constant as NTSTATUS (i32); follow it so code written
        // against one compiles against the other.
        name.starts_with("STATUS_").then_some(IntKind::Custom {
            name: "NTSTATUS",
            is_signed: true,
        })
    }

    fn add_attributes(&self, info: &AttributeInfo<'_>) -> Vec<String> {
        if ALIGN16.iter().any(|(name, ..)| *name == info.name) {
            vec!["#[repr(align(16))]".into()]
        } else {
            Vec::new()
        }
    }
}

fn builder(include: &Path) -> bindgen::Builder {
    let ddk = include.join("ddk");
    bindgen::Builder::default()
        .header(wrapper_file().display().to_string())
        // The settings wdk-build uses for wdk-sys.
        .use_core()
        .derive_default(true)
        .generate_cstr(true)
        .must_use_type("NTSTATUS")
        .default_enum_style(bindgen::EnumVariation::ModuleConsts)
        .formatter(bindgen::Formatter::Prettyplease)
        // Windows (LLP64) C types, so the same file compiles for the Linux host.
        .ctypes_prefix("crate::ctypes")
        .rust_target(bindgen::RustTarget::stable(85, 0).expect("a Rust version bindgen knows"))
        .rust_edition(bindgen::RustEdition::Edition2024)
        .merge_extern_blocks(true)
        .clang_macro_fallback()
        .detect_include_paths(false)
        .parse_callbacks(Box::new(Callbacks))
        .clang_args([
            "-target",
            "x86_64-pc-windows-gnu",
            "-D_AMD64_",
            "-DAMD64",
            "-D_WIN64",
            "-D_KERNEL_MODE",
            "-DNTDDI_VERSION=0x0A000000",
            "-D_WIN32_WINNT=0x0A00",
            "-Wno-pragma-pack",
            "-Wno-incompatible-library-redeclaration",
        ])
        .clang_arg(format!("-I{}", ddk.display()))
        .clang_arg(format!("-I{}", include.display()))
        // clang's own headers (mm_malloc.h and the intrinsics), after mingw's.
        .clang_args(clang_resource_include().map(|d| format!("-idirafter{}", d.display())))
}

/// `/usr/lib/llvm-N/lib/clang/VERSION/include`, newest first.
fn clang_resource_include() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib")
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("llvm-"))
        .flat_map(|e| {
            std::fs::read_dir(e.path().join("lib/clang"))
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path().join("include"))
        .filter(|p| p.join("mm_malloc.h").exists())
        .collect();
    found.sort();
    found.pop()
}

fn run(builder: bindgen::Builder) -> Result<String, String> {
    builder
        .generate()
        .map(|b| b.to_string())
        .map_err(|e| format!("bindgen failed: {e}"))
}

const HEADER: &str = "// Generated by `cargo xtask bindings` from mingw-w64's DDK headers (ReactOS DDK, public\n\
// domain). Do not edit: change the allowlist in xtask/src/bindings.rs and regenerate.\n";

/// Generates the three binding files from the headers under `include`.
pub fn generate(include: &Path) -> Result<Generated, String> {
    let functions = |list: &[&str], dll: &str| -> Result<String, String> {
        let mut b = builder(include)
            .with_codegen_config(bindgen::CodegenConfig::FUNCTIONS)
            .raw_line("#[allow(unused_imports)]\nuse crate::*;");
        for f in list {
            b = b.allowlist_function(f);
        }
        link_block(&run(b)?, dll)
    };
    let ntddk = functions(NTOSKRNL_FUNCTIONS, "ntoskrnl.exe")?;
    let hal = functions(HAL_FUNCTIONS, "HAL.dll")?;

    let mut types = builder(include).with_codegen_config(bindgen::CodegenConfig::TYPES | bindgen::CodegenConfig::VARS);
    // The curated types, and every type the routines' signatures name (a codegen run without
    // functions does not follow their signatures by itself).
    for t in TYPES.iter().copied().chain(type_names(&ntddk)).chain(type_names(&hal)) {
        types = types.allowlist_type(t);
    }
    for v in VARS {
        types = types.allowlist_var(v);
    }
    let types = fix_alignment(&run(types)?)?;
    Ok(Generated {
        types: format!("{HEADER}{types}"),
        ntddk: format!("{HEADER}{ntddk}"),
        hal: format!("{HEADER}{hal}"),
    })
}

/// The upper-case identifiers of generated code: the C typedef names it uses.
fn type_names(code: &str) -> impl Iterator<Item = &str> {
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            w.len() > 1
                && w.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
}

/// bindgen keeps mingw's 8-byte alignment in its layout assertions; restate them for the
/// 16-byte alignment the WDK declares. Fails if the expected assertions are not there, so a
/// header change cannot slip through.
fn fix_alignment(text: &str) -> Result<String, String> {
    let mut out = text.to_owned();
    for (name, mingw_size, size, align) in ALIGN16 {
        let old_size = format!("[\"Size of {name}\"][::core::mem::size_of::<{name}>() - {mingw_size}usize]");
        let old_align = format!("[\"Alignment of {name}\"][::core::mem::align_of::<{name}>() - {align}usize]");
        for old in [&old_size, &old_align] {
            if !out.contains(old.as_str()) {
                return Err(format!("layout assertion not found: {old}"));
            }
        }
        out = out
            .replace(
                &old_size,
                &format!("[\"Size of {name}\"][::core::mem::size_of::<{name}>() - {size}usize]"),
            )
            .replace(
                &old_align,
                &format!("[\"Alignment of {name}\"][::core::mem::align_of::<{name}>() - 16usize]"),
            );
    }
    Ok(out)
}

/// Puts the kernel backend's import attribute on the one extern block.
fn link_block(text: &str, dll: &str) -> Result<String, String> {
    const OPEN: &str = "unsafe extern \"C\" {";
    if text.matches(OPEN).count() != 1 {
        return Err(format!("expected one extern block for {dll}"));
    }
    let attr = format!(
        "#[cfg_attr(wdm_backend = \"kernel\", link(name = \"{dll}\", kind = \"raw-dylib\", modifiers = \"+verbatim\"))]\n{OPEN}"
    );
    Ok(text.replacen(OPEN, &attr, 1))
}

/// The folder of `wdm-sys`.
pub fn sys_crate(root: &Path) -> PathBuf {
    root.join("crates/wdm-sys")
}

/// The generated files and where they go, relative to the `wdm-sys` crate.
pub fn outputs(g: &Generated) -> [(&'static str, &str); 3] {
    [
        ("src/generated/types.rs", &g.types),
        ("src/generated/ntddk.rs", &g.ntddk),
        ("src/generated/hal.rs", &g.hal),
    ]
}

/// Export names of one of mingw-w64's import libraries (`libntoskrnl.a`, `libhal.a`).
pub fn exports(lib: &Path) -> Result<String, String> {
    let nm = ["llvm-nm", "llvm-nm-14", "x86_64-w64-mingw32-nm", "nm"]
        .into_iter()
        .find(|nm| Command::new(nm).arg("--version").output().is_ok())
        .ok_or("no nm found (install llvm or binutils-mingw-w64)")?;
    let out = Command::new(nm)
        .arg("--defined-only")
        .arg(lib)
        .output()
        .map_err(|e| format!("{nm}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{nm} {} failed", lib.display()));
    }
    let mut names: Vec<&str> = std::str::from_utf8(&out.stdout)
        .map_err(|e| e.to_string())?
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, kind, name) = (f.next()?, f.next()?, f.next()?);
            (kind == "T" && !name.starts_with("__imp_")).then_some(name)
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    Ok(format!(
        "# Exports of {} (mingw-w64), one a line. Generated by `cargo xtask bindings`.\n{}\n",
        lib.file_name().unwrap_or_default().to_string_lossy(),
        names.join("\n")
    ))
}

/// The export lists and where they go, relative to the `wdm-sys` crate.
pub fn export_lists() -> Result<[(&'static str, String); 2], String> {
    let lib = Path::new(MINGW_LIB);
    Ok([
        ("exports/ntoskrnl.exe.txt", exports(&lib.join("libntoskrnl.a"))?),
        ("exports/HAL.dll.txt", exports(&lib.join("libhal.a"))?),
    ])
}

/// Whether the tools needed to regenerate are present.
pub fn tools_present() -> bool {
    Path::new(MINGW_INCLUDE).join("ddk/ntddk.h").exists()
        && Path::new(MINGW_LIB).join("libntoskrnl.a").exists()
        && bindgen_libclang_present()
}

/// `libclang.so*` or `libclang-<version>.so*`, as bindgen loads; not `libclang-cpp` (the C++
/// library, which the `llvm` package brings without libclang).
fn is_libclang(name: &str) -> bool {
    name.starts_with("libclang.so")
        || name
            .strip_prefix("libclang-")
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()) && rest.contains(".so"))
}

fn bindgen_libclang_present() -> bool {
    [
        "/usr/lib/llvm-14/lib",
        "/usr/lib/llvm-15/lib",
        "/usr/lib/llvm-16/lib",
        "/usr/lib/x86_64-linux-gnu",
    ]
    .iter()
    .any(|d| {
        std::fs::read_dir(d)
            .map(|rd| rd.flatten().any(|e| is_libclang(&e.file_name().to_string_lossy())))
            .unwrap_or(false)
    })
}

/// `cargo xtask bindings`: regenerate everything in place.
pub fn command(root: &Path) -> Result<(), String> {
    if !tools_present() {
        cargo_wdm::tools::ensure_packages(&["mingw-w64-x86-64-dev", "libclang-dev", "llvm"])?;
    }
    let dir = sys_crate(root);
    let g = generate(Path::new(MINGW_INCLUDE))?;
    for (rel, text) in outputs(&g) {
        write(&dir.join(rel), text)?;
    }
    for (rel, text) in export_lists()? {
        write(&dir.join(rel), &text)?;
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))
        .and_then(|()| std::fs::write(path, text))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    println!("wrote {} ({} bytes)", path.display(), text.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a test that needs the generator's tools must run: `cargo xtask test` (CI)
    /// installs them and sets WDM_REQUIRE_TOOLS, so there a missing tool is a failure.
    fn tools_or_skip() -> bool {
        if tools_present() {
            return true;
        }
        assert!(
            std::env::var_os("WDM_REQUIRE_TOOLS").is_none(),
            "libclang-dev / mingw-w64-x86-64-dev / llvm are missing, and WDM_REQUIRE_TOOLS is set"
        );
        eprintln!(
            "NOT RUN: the bindings comparison needs libclang-dev and mingw-w64-x86-64-dev (cargo xtask test installs them)"
        );
        false
    }

    #[test]
    fn libclang_is_told_from_libclang_cpp() {
        assert!(is_libclang("libclang.so"));
        assert!(is_libclang("libclang.so.1"));
        assert!(is_libclang("libclang-14.so.1"));
        assert!(is_libclang("libclang-14.0.6.so"));
        assert!(!is_libclang("libclang-cpp.so.14"));
        assert!(!is_libclang("libclangBasic.a"));
    }

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    #[test]
    fn checked_in_bindings_match_a_fresh_generation() {
        if !tools_or_skip() {
            return;
        }
        let g = generate(Path::new(MINGW_INCLUDE)).expect("bindings generate");
        for (rel, fresh) in outputs(&g) {
            let checked_in = std::fs::read_to_string(sys_crate(&root()).join(rel)).unwrap();
            assert!(checked_in == fresh, "{rel} is stale: run `cargo xtask bindings`");
        }
    }

    #[test]
    fn checked_in_export_lists_match_mingw() {
        if !tools_or_skip() {
            return;
        }
        for (rel, fresh) in export_lists().expect("nm reads the import libraries") {
            let checked_in = std::fs::read_to_string(sys_crate(&root()).join(rel)).unwrap();
            assert!(checked_in == fresh, "{rel} is stale: run `cargo xtask bindings`");
            assert!(fresh.lines().count() > 50, "{rel} is implausibly short");
        }
    }

    #[test]
    fn device_object_is_realigned_and_other_asserts_are_intact() {
        let types = std::fs::read_to_string(sys_crate(&root()).join("src/generated/types.rs")).unwrap();
        assert!(types.contains("[\"Size of _DEVICE_OBJECT\"][::core::mem::size_of::<_DEVICE_OBJECT>() - 336usize]"));
        assert!(types.contains("[\"Alignment of _IRP\"][::core::mem::align_of::<_IRP>() - 16usize]"));
    }

    #[test]
    fn type_names_are_the_upper_case_identifiers() {
        let names: Vec<&str> = type_names("pub fn IoX(Irp: PIRP, n: ULONG) -> NTSTATUS; fn f(x: u8)").collect();
        assert_eq!(names, ["PIRP", "ULONG", "NTSTATUS"]);
    }
}
