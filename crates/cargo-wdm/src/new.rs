//! `cargo wdm new <name>`: a driver crate that builds and passes its tests as generated.
//!
//! The crate is a small cargo workspace: the driver package at its root (a library with the
//! driver, a binary that is the `.sys`, simulator tests, and the WDK-path files:
//! `package.metadata.wdk`, `build.rs`, `Makefile.toml`, `<crate>.inx`), and `client/`, a
//! user-mode program (windows-sys, built for x86_64-pc-windows-gnu) that opens the device and
//! checks its answers. The files are the templates under `templates/`, carried in the binary
//! (`include_str!`), with the names filled in.
//!
//! Two kinds ([`Kind`]): a legacy driver (DriverEntry creates a named device and its DOS link;
//! `cargo wdm run` loads it as a kernel service), and, with `--pnp`, a PnP function driver on
//! `wdm::pnp::PnpDevice` (`templates/pnp/`): a root-enumerated device with the hardware ID
//! `root\<crate>`, found from user mode by a device interface whose class GUID is made at random
//! for each crate ([`Guid::random`]), declared in `[package.metadata.wdm.pnp]` so that `cargo wdm
//! run` installs it through SetupAPI. Both teach the same I/O: create/close, a buffered IOCTL
//! with length checks, reads pended in an `IrpQueue` and completed by a write, cleanup.
//!
//! Where `wdm` comes from is a [`Deps`]: by default a path dependency on the wdm repository
//! this `cargo-wdm` was built from; `--wdm-path`, `--wdm-git` or `--published` choose another.
//!
//! ```
//! use cargo_wdm::new::{Deps, Kind, files, names};
//!
//! let n = names("my-driver").unwrap();
//! assert_eq!((n.krate.as_str(), n.device.as_str()), ("my_driver", "MyDriver"));
//! let generated = files("my-driver", &Deps::Published("0.1.0".into()), &Kind::Legacy).unwrap();
//! let (_, manifest) = generated.iter().find(|(path, _)| path.ends_with("Cargo.toml")).unwrap();
//! assert!(manifest.contains("wdm = \"0.1.0\"\n"));
//! assert!(names("pipe").unwrap_err().contains("reserved"));
//! ```

use std::path::{Path, PathBuf};

/// Where the generated crate gets `wdm`, `wdm-sim` and `wdm-sys` from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deps {
    /// A checkout of the wdm repository (its root folder).
    Path(PathBuf),
    /// The wdm repository's git URL; cargo finds the three packages in it.
    Git(String),
    /// Versions published on crates.io.
    Published(String),
}

impl Deps {
    /// The default: a path dependency on the wdm repository this `cargo-wdm` was built from
    /// (`cargo install --path`), if it is still there and is not inside cargo's own cache;
    /// otherwise (installed from crates.io or git) the published crates of this version.
    ///
    /// ```
    /// // Built inside the repository, so it is found.
    /// let cargo_wdm::new::Deps::Path(repo) = cargo_wdm::new::Deps::default_source().unwrap() else {
    ///     panic!("a path");
    /// };
    /// assert!(repo.join("crates/wdm-sys").is_dir());
    /// ```
    pub fn default_source() -> Result<Deps, String> {
        let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        // Built from a checkout of the repository (`cargo install --path`): depend on it.
        // Installed from crates.io, or from git into cargo's own cache (which cargo may
        // clean): the published crates of this version.
        let in_cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .and_then(|home| home.canonicalize().ok())
            .zip(built_from.canonicalize().ok())
            .is_some_and(|(home, dir)| dir.starts_with(home));
        match repository(&built_from) {
            Ok(repo) if !in_cargo_home => Ok(Deps::Path(repo)),
            _ => Ok(Deps::Published(env!("CARGO_PKG_VERSION").to_owned())),
        }
    }

    /// The right-hand side of the dependency line for `package` (`wdm`, `wdm-sim` or
    /// `wdm-sys`).
    ///
    /// ```
    /// use cargo_wdm::new::Deps;
    ///
    /// let path = Deps::Path("/src/wdm".into());
    /// assert_eq!(path.spec("wdm"), r#"{ path = "/src/wdm" }"#);
    /// assert_eq!(path.spec("wdm-sim"), r#"{ path = "/src/wdm/crates/wdm-sim" }"#);
    /// let git = Deps::Git("https://example.org/wdm.git".into());
    /// assert_eq!(git.spec("wdm-sys"), r#"{ git = "https://example.org/wdm.git" }"#);
    /// assert_eq!(Deps::Published("0.1.0".into()).spec("wdm"), r#""0.1.0""#);
    /// ```
    pub fn spec(&self, package: &str) -> String {
        match self {
            Deps::Path(repo) => {
                let dir = match package {
                    "wdm" => repo.clone(),
                    other => repo.join("crates").join(other),
                };
                // Forward slashes work on every host and need no escaping.
                let dir = dir.to_string_lossy().replace('\\', "/");
                format!("{{ path = {} }}", toml_string(&dir))
            }
            Deps::Git(url) => format!("{{ git = {} }}", toml_string(url)),
            Deps::Published(version) => toml_string(version),
        }
    }

    /// Where `wdm` comes from, in words (for the crate's README and the command's report).
    ///
    /// ```
    /// let deps = cargo_wdm::new::Deps::Published("0.1.0".into());
    /// assert_eq!(deps.describe(), "version 0.1.0 from crates.io");
    /// ```
    pub fn describe(&self) -> String {
        match self {
            Deps::Path(repo) => format!("the wdm repository at `{}` (path dependencies)", repo.display()),
            Deps::Git(url) => format!("the wdm repository at `{url}` (git dependencies)"),
            Deps::Published(version) => format!("version {version} from crates.io"),
        }
    }
}

/// `dir` canonicalised, if it is a wdm repository: its root manifest is package `wdm`'s, and
/// it has `crates/wdm-sys` and `crates/wdm-sim`.
fn repository(dir: &Path) -> Result<PathBuf, String> {
    let dir = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
    let is_wdm = manifest.lines().any(|l| l.replace(' ', "") == "name=\"wdm\"")
        && dir.join("crates/wdm-sys/Cargo.toml").is_file()
        && dir.join("crates/wdm-sim/Cargo.toml").is_file();
    if !is_wdm {
        return Err(format!(
            "{} is not a wdm repository (its Cargo.toml is not package `wdm`'s, or crates/wdm-sys or \
             crates/wdm-sim is missing)",
            dir.display()
        ));
    }
    // `canonicalize` gives `\\?\C:\...` on Windows, which cargo accepts but users do not expect.
    let text = dir.to_string_lossy();
    Ok(text.strip_prefix(r"\\?\").map_or_else(|| dir.clone(), PathBuf::from))
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The names a driver crate is made with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The package name, as given (`my-driver`).
    pub package: String,
    /// The crate name: the library, the binary, the `.sys`, the `.inx` and the service
    /// (`my_driver`; wdk-build names the package's files this way).
    pub krate: String,
    /// The driver type and the device: `\Device\MyDriver`, `\DosDevices\MyDriver` (`MyDriver`).
    pub device: String,
}

impl Names {
    /// A PnP driver's root hardware ID: `root\<crate>`.
    ///
    /// ```
    /// assert_eq!(cargo_wdm::new::names("my-driver").unwrap().hardware_id(), r"root\my_driver");
    /// ```
    pub fn hardware_id(&self) -> String {
        format!("root\\{}", self.krate)
    }
}

/// A device interface class GUID, as the PnP template uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guid(pub u128);

impl Guid {
    /// A fresh random GUID (RFC 9562 version 4: 122 random bits, the version and variant
    /// fixed), a new one at every call. The bits come from the standard library's hasher
    /// keys (`RandomState`, seeded from the operating system's random source once per thread
    /// and distinct for every hasher made), mixed with the time and the process ID: no
    /// dependency, and no two crates made by `cargo wdm new --pnp` share an interface class.
    ///
    /// ```
    /// use cargo_wdm::new::Guid;
    ///
    /// let (a, b) = (Guid::random(), Guid::random());
    /// assert_ne!(a, b);
    /// assert_eq!(&a.braced()[15..16], "4"); // the version
    /// assert!("89ab".contains(&a.braced()[20..21])); // the variant
    /// ```
    pub fn random() -> Guid {
        use std::hash::{BuildHasher, Hasher};
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut bits = 0u128;
        for half in 0..2u8 {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u128(nanos);
            hasher.write_u32(std::process::id());
            hasher.write_u8(half);
            bits = (bits << 64) | u128::from(hasher.finish());
        }
        let version = (bits & !(0xF << 76)) | (0x4 << 76);
        Guid((version & !(0x3 << 62)) | (0x2 << 62))
    }

    /// Reads `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, braced or not, in either case.
    ///
    /// ```
    /// use cargo_wdm::new::Guid;
    ///
    /// let g = Guid::parse("{781EF630-72B2-11D2-B852-00C04FAD5171}").unwrap();
    /// assert_eq!(g, Guid(0x781e_f630_72b2_11d2_b852_00c0_4fad_5171));
    /// assert!(Guid::parse("781ef630-72b2-11d2-b852").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Guid, String> {
        let bare = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')).unwrap_or(text);
        let groups: Vec<&str> = bare.split('-').collect();
        let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        let hex = groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
        if lengths != [8, 4, 4, 4, 12] || !hex {
            return Err(format!(
                "`{text}` is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hexadecimal digits)"
            ));
        }
        u128::from_str_radix(&groups.concat(), 16)
            .map(Guid)
            .map_err(|e| format!("`{text}`: {e}"))
    }

    /// Its text form, braced and in lower case: `{781ef630-72b2-11d2-b852-00c04fad5171}`.
    pub fn braced(&self) -> String {
        let h = format!("{:032x}", self.0);
        format!(
            "{{{}-{}-{}-{}-{}}}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }

    /// The `u128` literal `Guid::from_u128` (wdm) and `GUID::from_u128` (windows-sys) take,
    /// grouped as the text form is: `0x781ef630_72b2_11d2_b852_00c04fad5171`.
    ///
    /// ```
    /// let g = cargo_wdm::new::Guid(0x781e_f630_72b2_11d2_b852_00c0_4fad_5171);
    /// assert_eq!(g.rust_literal(), "0x781ef630_72b2_11d2_b852_00c04fad5171");
    /// ```
    pub fn rust_literal(&self) -> String {
        let text = self.braced();
        format!("0x{}", text[1..37].replace('-', "_"))
    }
}

/// Which driver `cargo wdm new` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A legacy (non-PnP) driver: DriverEntry creates `\Device\<Name>` and its DOS link, and
    /// `cargo wdm run` loads it as a kernel service.
    Legacy,
    /// A PnP function driver (`wdm::pnp::PnpDevice`) on the root device `root\<crate>`, with a
    /// device interface of this class.
    Pnp(Guid),
}

/// Rust's keywords, strict and reserved: a crate cannot be named after one.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro", "match", "mod",
    "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
    "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Crate names the generated code already uses (or the standard library's).
const TAKEN_CRATES: &[&str] = &[
    "alloc",
    "core",
    "proc_macro",
    "std",
    "test",
    "wdk",
    "wdk_alloc",
    "wdk_build",
    "wdk_panic",
    "wdk_sys",
    "wdm",
    "wdm_sim",
    "wdm_sys",
    "windows_sys",
];

/// Type names the generated code uses, which the driver's type (named after the crate) would
/// shadow. `tests/new.rs` checks that every capitalised name in the templates is listed.
pub const TAKEN_TYPES: &[&str] = &[
    // the driver's code and tests
    "Buffered",
    "DeviceOptions",
    "Dispatch",
    "Driver",
    "DriverObject",
    "IoMethod",
    "Irp",
    "IrpQueue",
    "Kernel",
    "Method",
    "Outcome",
    "Status",
    "Unlocked",
    // the PnP driver's code and tests (variants too: the test that checks this list is coarse)
    "Deleted",
    "DeviceNode",
    "DevicePowerState",
    "Function",
    "Guid",
    "NewDevice",
    "NodeState",
    "PnpDevice",
    "PnpOptions",
    "PowerDeviceD0",
    "PowerDeviceD3",
    "PowerSystemSleeping3",
    "Role",
    "Started",
    "SurpriseRemoved",
    // the prelude's
    "Box",
    "Clone",
    "Copy",
    "Default",
    "Drop",
    "Err",
    "Eq",
    "Fn",
    "FnMut",
    "FnOnce",
    "From",
    "Into",
    "Iterator",
    "None",
    "Ok",
    "Option",
    "Ord",
    "PartialEq",
    "PartialOrd",
    "Result",
    "Send",
    "Sized",
    "Some",
    "String",
    "Sync",
    "ToOwned",
    "ToString",
    "Vec",
];

/// Names Windows reserves in the DOS device namespace (`\DosDevices\X`, `\\.\X`): Win32's
/// reserved file names, and links Windows itself makes. A driver that creates such a link
/// fails to load: IoCreateSymbolicLink fails, the name being taken (Wine 8 answers
/// `\DosDevices\Pipe` with STATUS_OBJECT_TYPE_MISMATCH, and the service does not start).
const RESERVED_DOS_NAMES: &[&str] = &[
    "AUX",
    "CON",
    "CONIN$",
    "CONOUT$",
    "GLOBAL",
    "GLOBALROOT",
    "MAILSLOT",
    "NUL",
    "PIPE",
    "PRN",
    "UNC",
];

/// Reserved DOS names followed by a number (`COM1`, `PhysicalDrive0`).
const RESERVED_NUMBERED: &[&str] = &["CDROM", "COM", "HARDDISK", "LPT", "PHYSICALDRIVE", "TAPE"];

/// Names of devices Windows itself creates under `\Device` (not a complete list: the common
/// ones). IoCreateDevice fails with STATUS_OBJECT_NAME_COLLISION on them.
const RESERVED_DEVICES: &[&str] = &[
    "AFD",
    "BEEP",
    "CNG",
    "CONDRV",
    "IP",
    "IP6",
    "KSECDD",
    "MAILSLOT",
    "MUP",
    "NAMEDPIPE",
    "NSI",
    "NULL",
    "RAWIP",
    "RAWIP6",
    "TCP",
    "TCP6",
    "UDP",
    "UDP6",
];

/// Checks a driver crate's name and derives the others from it.
///
/// ```
/// use cargo_wdm::new::names;
///
/// let n = names("ping_pong2").unwrap();
/// assert_eq!((n.package.as_str(), n.krate.as_str(), n.device.as_str()), ("ping_pong2", "ping_pong2", "PingPong2"));
/// assert!(names("MyDriver").is_err()); // snake_case or kebab-case
/// assert!(names("com1").unwrap_err().contains("COM1"));
/// ```
pub fn names(name: &str) -> Result<Names, String> {
    let invalid = |why: &str| {
        Err(format!(
            "`{name}` cannot name a driver crate: {why}; use snake_case or kebab-case, such as `my_driver` or `my-driver`"
        ))
    };
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > 64 {
        return invalid("it is longer than 64 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return invalid("it must start with a lowercase ASCII letter");
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'))
    {
        return invalid(&format!("`{c}` is not a lowercase ASCII letter, a digit, `-` or `_`"));
    }
    let parts: Vec<&str> = name.split(['-', '_']).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return invalid("it has a `-` or `_` at its end or two in a row");
    }
    let krate = name.replace('-', "_");
    if KEYWORDS.contains(&krate.as_str()) {
        return invalid("it is a Rust keyword");
    }
    // Cargo refuses a binary target named after its own build folders.
    if ["build", "deps", "examples", "incremental"].contains(&krate.as_str()) {
        return invalid("cargo forbids a binary of that name (it is one of cargo's build folders)");
    }
    if TAKEN_CRATES.contains(&krate.as_str()) {
        return invalid("the generated crate already depends on a crate of that name (or std has one)");
    }
    let device: String = parts
        .iter()
        .map(|p| {
            let mut chars = p.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(chars).collect::<String>()
        })
        .collect();
    if TAKEN_TYPES.contains(&device.as_str()) {
        return invalid(&format!(
            "the driver's type would be named `{device}`, which the generated code already uses"
        ));
    }
    let upper = device.to_ascii_uppercase();
    let numbered = RESERVED_NUMBERED.iter().any(|prefix| {
        upper
            .strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    if RESERVED_DOS_NAMES.contains(&upper.as_str()) || numbered {
        return Err(format!(
            "`{name}` would name the driver's link \\DosDevices\\{device}, but {upper} is a reserved DOS device \
             name: the driver would fail to load (on Windows and on Wine); choose another name"
        ));
    }
    if RESERVED_DEVICES.contains(&upper.as_str()) {
        return Err(format!(
            "`{name}` would name the driver's device \\Device\\{device}, which Windows already has: the driver \
             would fail to load; choose another name"
        ));
    }
    Ok(Names {
        package: name.to_owned(),
        krate,
        device,
    })
}

/// The templates of a legacy driver: where each file goes (with placeholders) and its text.
const TEMPLATES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../templates/Cargo.toml.tmpl")),
    ("README.md", include_str!("../templates/README.md.tmpl")),
    (".gitignore", include_str!("../templates/gitignore.tmpl")),
    ("src/lib.rs", include_str!("../templates/src/lib.rs.tmpl")),
    ("src/main.rs", include_str!("../templates/src/main.rs.tmpl")),
    ("tests/sim.rs", include_str!("../templates/tests/sim.rs.tmpl")),
    ("build.rs", include_str!("../templates/build.rs.tmpl")),
    ("Makefile.toml", include_str!("../templates/Makefile.toml.tmpl")),
    ("{{crate}}.inx", include_str!("../templates/driver.inx.tmpl")),
    ("client/Cargo.toml", include_str!("../templates/client/Cargo.toml.tmpl")),
    (
        "client/src/main.rs",
        include_str!("../templates/client/src/main.rs.tmpl"),
    ),
];

/// The templates of a PnP driver (`templates/pnp/`, and the legacy driver's files that do not
/// depend on the kind: `.gitignore`, `build.rs`, `Makefile.toml`).
const PNP_TEMPLATES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../templates/pnp/Cargo.toml.tmpl")),
    ("README.md", include_str!("../templates/pnp/README.md.tmpl")),
    (".gitignore", include_str!("../templates/gitignore.tmpl")),
    ("src/lib.rs", include_str!("../templates/pnp/src/lib.rs.tmpl")),
    ("src/main.rs", include_str!("../templates/pnp/src/main.rs.tmpl")),
    ("tests/sim.rs", include_str!("../templates/pnp/tests/sim.rs.tmpl")),
    ("build.rs", include_str!("../templates/build.rs.tmpl")),
    ("Makefile.toml", include_str!("../templates/Makefile.toml.tmpl")),
    ("{{crate}}.inx", include_str!("../templates/pnp/driver.inx.tmpl")),
    (
        "client/Cargo.toml",
        include_str!("../templates/pnp/client/Cargo.toml.tmpl"),
    ),
    (
        "client/src/main.rs",
        include_str!("../templates/pnp/client/src/main.rs.tmpl"),
    ),
];

/// Fills in a template's placeholders (a PnP driver's also `{{hardware-id}}`, `{{guid}}` and
/// `{{guid-u128}}`).
fn render(template: &str, names: &Names, deps: &Deps, kind: &Kind) -> Result<String, String> {
    let mut text = template
        .replace("{{name}}", &names.package)
        .replace("{{crate}}", &names.krate)
        .replace("{{Name}}", &names.device)
        .replace("{{wdm}}", &deps.spec("wdm"))
        .replace("{{wdm-sim}}", &deps.spec("wdm-sim"))
        .replace("{{wdm-sys}}", &deps.spec("wdm-sys"))
        .replace("{{wdm-source}}", &deps.describe());
    if let Kind::Pnp(guid) = kind {
        text = text
            .replace("{{hardware-id}}", &names.hardware_id())
            .replace("{{guid}}", &guid.braced())
            .replace("{{guid-u128}}", &guid.rust_literal());
    }
    match text.find("{{") {
        Some(at) => Err(format!(
            "template bug: an unknown placeholder at `{}`",
            &text[at..text.len().min(at + 20)]
        )),
        None => Ok(text),
    }
}

/// The files of driver crate `name` of `kind` (paths relative to the crate's folder), without
/// writing them.
///
/// ```
/// use cargo_wdm::new::{Deps, Guid, Kind, files};
///
/// let legacy = files("beeper", &Deps::Git("https://example.org/wdm".into()), &Kind::Legacy).unwrap();
/// let paths: Vec<_> = legacy.iter().map(|(p, _)| p.to_str().unwrap()).collect();
/// assert!(paths.contains(&"beeper.inx") && paths.contains(&"client/src/main.rs"));
///
/// let pnp = Kind::Pnp(Guid(0x781e_f630_72b2_11d2_b852_00c0_4fad_5171));
/// let pnp = files("beeper", &Deps::Published("0.1.0".into()), &pnp).unwrap();
/// let manifest = &pnp.iter().find(|(p, _)| p.ends_with("Cargo.toml")).unwrap().1;
/// assert!(manifest.contains("hardware-id = 'root\\beeper'\n"));
/// assert!(manifest.contains("interface = \"{781ef630-72b2-11d2-b852-00c04fad5171}\"\n"));
/// ```
pub fn files(name: &str, deps: &Deps, kind: &Kind) -> Result<Vec<(PathBuf, String)>, String> {
    let names = names(name)?;
    let templates = match kind {
        Kind::Legacy => TEMPLATES,
        Kind::Pnp(_) => PNP_TEMPLATES,
    };
    templates
        .iter()
        .map(|(path, template)| {
            Ok((
                PathBuf::from(render(path, &names, deps, kind)?),
                render(template, &names, deps, kind)?,
            ))
        })
        .collect()
}

/// Writes driver crate `name` into `dir` (created if missing; refused if it exists and is not
/// empty) and returns the files written.
///
/// ```
/// use cargo_wdm::new::{Deps, Kind, generate};
///
/// let dir = std::env::temp_dir().join(format!("cargo-wdm-doc-{}", std::process::id()));
/// let deps = Deps::Published("0.1.0".into());
/// let written = generate(&dir, "blinker", &deps, &Kind::Legacy).unwrap();
/// assert!(written.contains(&dir.join("src/lib.rs")));
/// assert!(generate(&dir, "blinker", &deps, &Kind::Legacy).unwrap_err().contains("not empty"));
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn generate(dir: &Path, name: &str, deps: &Deps, kind: &Kind) -> Result<Vec<PathBuf>, String> {
    let files = files(name, deps, kind)?;
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(format!(
                    "{} exists and is not empty: choose another folder (--path)",
                    dir.display()
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    let mut written = Vec::new();
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path);
    }
    format(&written);
    Ok(written)
}

/// Formats the Rust files among `files` with rustfmt, when there is one. The templates are
/// formatted for names of ordinary length, and a long name can push a line past rustfmt's
/// width; without rustfmt the files stay as rendered (valid, only not formatted).
fn format(files: &[PathBuf]) {
    let rust: Vec<&PathBuf> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    let _ = std::process::Command::new("rustfmt")
        .args(["--edition", "2024"])
        .args(rust)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

const HELP: &str = "\
cargo wdm new <name> [options]

Makes a driver crate in ./<name> that builds and passes its tests as made: the driver
(a library and the binary that is the .sys), simulator tests, the WDK-path files, a
user-mode client in client/, and a README saying how to test, build and run it.

<name> is a crate name in snake_case or kebab-case; `my-driver` makes the device
\\Device\\MyDriver, opened from user mode as \\\\.\\MyDriver, and my_driver.sys.
With --pnp it makes a PnP function driver instead (wdm::pnp::PnpDevice) for the root
device root\\my_driver, which user mode finds by a device interface whose class GUID
is made at random for the crate.

  --path <dir>        make the crate in <dir> instead of ./<name>
  --wdm-path <repo>   depend on the wdm repository checked out at <repo> (path
                      dependencies; the default is the checkout this cargo-wdm was
                      built from)
  --wdm-git <url>     depend on the wdm repository at <url> (git dependencies)
  --published[=<v>]   depend on wdm, wdm-sim and wdm-sys published on crates.io,
                      version <v> (default: this cargo-wdm's version)
  --pnp               a PnP function driver: AddDevice, the PnP and power hooks,
                      a device interface, [package.metadata.wdm.pnp] (cargo wdm run
                      installs it on its root device through SetupAPI)
  --interface <guid>  with --pnp: the device interface class (default: a fresh
                      random GUID)
";

/// `cargo wdm new <args>`: parses the arguments, makes the crate, and prints what it made and
/// the commands to run next.
///
/// ```
/// let args = ["my-driver", "--interface", "{781ef630-72b2-11d2-b852-00c04fad5171}"].map(String::from);
/// let e = cargo_wdm::new::command(&args).unwrap_err();
/// assert!(e.contains("--pnp"));
/// ```
pub fn command(args: &[String]) -> Result<(), String> {
    let mut name = None;
    let mut pnp = false;
    let mut interface = None;
    let mut dir = None;
    let mut deps = None;
    fn set_deps(d: Deps, deps: &mut Option<Deps>) -> Result<(), String> {
        match deps.replace(d) {
            Some(_) => Err("--wdm-path, --wdm-git and --published choose where wdm comes from: give one".into()),
            None => Ok(()),
        }
    }
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("{flag} needs {what}"))
        };
        match flag {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            "--pnp" => pnp = true,
            "--interface" => interface = Some(Guid::parse(&value("a GUID")?)?),
            "--path" => dir = Some(PathBuf::from(value("a folder")?)),
            "--wdm-path" => {
                let repo = repository(Path::new(&value("the wdm repository's folder")?))?;
                set_deps(Deps::Path(repo), &mut deps)?;
            }
            "--wdm-git" => set_deps(Deps::Git(value("a git URL")?), &mut deps)?,
            "--published" => {
                let version = inline.clone().unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned());
                set_deps(Deps::Published(version), &mut deps)?;
            }
            f if f.starts_with('-') => return Err(format!("unknown option {arg}\n\n{HELP}")),
            _ if name.is_none() => name = Some(arg.clone()),
            _ => {
                return Err(format!(
                    "one name only (got `{}` and `{arg}`)",
                    name.unwrap_or_default()
                ));
            }
        }
    }
    let name = name.ok_or(format!("the driver crate's name is missing\n\n{HELP}"))?;
    let names = names(&name)?;
    let kind = match (pnp, interface) {
        (false, Some(_)) => return Err("--interface names a PnP driver's interface class: give --pnp too".into()),
        (false, None) => Kind::Legacy,
        (true, interface) => Kind::Pnp(interface.unwrap_or_else(Guid::random)),
    };
    let deps = match deps {
        Some(deps) => deps,
        None => Deps::default_source()?,
    };
    let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
    let written = generate(&dir, &name, &deps, &kind)?;
    print!("{}", report(&dir, &names, &deps, &kind, &written));
    Ok(())
}

/// What `cargo wdm new` prints once it has made the crate in `dir`: the names, the files, where
/// `wdm` comes from, and the commands to run next.
///
/// ```
/// use cargo_wdm::new::{Deps, Guid, Kind, names, report};
/// use std::path::Path;
///
/// let (dir, n, deps) = (Path::new("beeper"), names("beeper").unwrap(), Deps::Published("0.1.0".into()));
/// let text = report(dir, &n, &deps, &Kind::Legacy, &[]);
/// assert!(text.contains("cargo wdm run --client client"));
/// let text = report(dir, &n, &deps, &Kind::Pnp(Guid(1)), &[]);
/// assert!(text.contains("interface {00000000-0000-0000-0000-000000000001}"));
/// ```
pub fn report(dir: &Path, names: &Names, deps: &Deps, kind: &Kind, written: &[PathBuf]) -> String {
    let mut text = match kind {
        Kind::Legacy => format!("Made the driver crate `{}` in {}:\n", names.package, dir.display()),
        Kind::Pnp(_) => format!("Made the PnP driver crate `{}` in {}:\n", names.package, dir.display()),
    };
    text.push_str(&match kind {
        Kind::Legacy => format!(
            "  device \\Device\\{0} (user mode opens \\\\.\\{0}), image {1}.sys\n",
            names.device, names.krate
        ),
        Kind::Pnp(guid) => format!(
            "  root device {}, interface {} (user mode finds the device by it), image {}.sys\n",
            names.hardware_id(),
            guid.braced(),
            names.krate
        ),
    });
    text.push_str(&format!("  wdm from {}\n", deps.describe()));
    text.push_str("Files:\n");
    for path in written {
        text.push_str(&format!("  {}\n", path.strip_prefix(dir).unwrap_or(path).display()));
    }
    text.push_str("Next:\n");
    text.push_str(&format!("  cd {}\n", dir.display()));
    text.push_str("  cargo wdm test                  # the simulator tests (cargo test does the same)\n");
    text.push_str(&format!(
        "  cargo wdm build                 # {}.sys, built without the WDK and checked\n",
        names.krate
    ));
    text.push_str(match kind {
        Kind::Legacy => "  cargo wdm run --client client   # the driver under Wine, the client run against it\n",
        Kind::Pnp(_) => "  cargo wdm run --client client   # under Wine: on its root device, the client, the removal\n",
    });
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(name: &str) -> String {
        names(name).expect_err(name)
    }

    #[test]
    fn names_are_derived() {
        let n = names("my-driver").unwrap();
        assert_eq!(
            (n.package.as_str(), n.krate.as_str(), n.device.as_str()),
            ("my-driver", "my_driver", "MyDriver")
        );
        assert_eq!(names("x").unwrap().device, "X");
        assert_eq!(names("usb2serial").unwrap().device, "Usb2serial");
        assert_eq!(names("a_b-c").unwrap().device, "ABC");
        assert_eq!(names("com").unwrap().device, "Com");
        assert_eq!(names("comx1").unwrap().device, "Comx1");
        assert_eq!(names("first-driver").unwrap().krate, "first_driver");
    }

    #[test]
    fn bad_crate_names_are_refused() {
        for name in [
            "",
            "My-driver",
            "1driver",
            "_driver",
            "-driver",
            "driver-",
            "my--driver",
            "my driver",
            "dr.iver",
        ] {
            assert!(refused(name).contains("snake_case or kebab-case"), "{name}");
        }
        assert!(refused("émile").contains("lowercase ASCII letter"));
        assert!(refused(&"a".repeat(65)).contains("64"));
        assert!(refused("fn").contains("keyword"));
        assert!(refused("wdm").contains("already depends"));
        assert!(refused("wdm-sim").contains("already depends"));
        assert!(refused("windows-sys").contains("already depends"));
        assert!(refused("std").contains("already depends"));
    }

    #[test]
    fn names_shadowing_the_templates_types_are_refused() {
        for name in [
            "driver",
            "irp",
            "status",
            "kernel",
            "result",
            "irp-queue",
            "device_options",
        ] {
            assert!(refused(name).contains("already uses"), "{name}");
        }
    }

    #[test]
    fn reserved_device_names_are_refused() {
        for name in [
            "nul",
            "con",
            "prn",
            "aux",
            "pipe",
            "mailslot",
            "com1",
            "com9",
            "lpt1",
            "physical-drive0",
            "cd-rom1",
        ] {
            assert!(refused(name).contains("reserved DOS device name"), "{name}");
        }
        for name in ["null", "beep", "named-pipe", "tcp", "ksec-dd"] {
            assert!(refused(name).contains("Windows already has"), "{name}");
        }
        // Near misses are fine.
        for name in ["pipes", "console", "comm", "com1x", "null-driver", "my-pipe"] {
            assert!(names(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn dependency_lines_for_each_source() {
        let path = Deps::Path(PathBuf::from("/home/me/wdm"));
        assert_eq!(path.spec("wdm"), r#"{ path = "/home/me/wdm" }"#);
        assert_eq!(path.spec("wdm-sim"), r#"{ path = "/home/me/wdm/crates/wdm-sim" }"#);
        assert_eq!(path.spec("wdm-sys"), r#"{ path = "/home/me/wdm/crates/wdm-sys" }"#);
        let windows = Deps::Path(PathBuf::from(r"C:\src\wdm"));
        assert_eq!(windows.spec("wdm"), r#"{ path = "C:/src/wdm" }"#);
        let quoted = Deps::Path(PathBuf::from("/tmp/a \"b\""));
        assert_eq!(quoted.spec("wdm"), r#"{ path = "/tmp/a \"b\"" }"#);
        let git = Deps::Git("https://github.com/someone/wdm".into());
        for package in ["wdm", "wdm-sim", "wdm-sys"] {
            assert_eq!(git.spec(package), r#"{ git = "https://github.com/someone/wdm" }"#);
        }
        assert_eq!(Deps::Published("0.2.1".into()).spec("wdm-sim"), r#""0.2.1""#);
    }

    #[test]
    fn the_manifest_carries_the_dependency_lines() {
        for (deps, wdm, sim, sys) in [
            (
                Deps::Path(PathBuf::from("/r")),
                r#"wdm = { path = "/r" }"#,
                r#"wdm-sim = { path = "/r/crates/wdm-sim" }"#,
                r#"wdm-sys = { path = "/r/crates/wdm-sys" }"#,
            ),
            (
                Deps::Git("https://g/wdm".into()),
                r#"wdm = { git = "https://g/wdm" }"#,
                r#"wdm-sim = { git = "https://g/wdm" }"#,
                r#"wdm-sys = { git = "https://g/wdm" }"#,
            ),
            (
                Deps::Published("0.1.0".into()),
                r#"wdm = "0.1.0""#,
                r#"wdm-sim = "0.1.0""#,
                r#"wdm-sys = "0.1.0""#,
            ),
        ] {
            let files = files("my-driver", &deps, &Kind::Legacy).unwrap();
            let manifest = &files.iter().find(|(p, _)| p == Path::new("Cargo.toml")).unwrap().1;
            let lines: Vec<&str> = manifest.lines().collect();
            for line in [wdm, sim, sys] {
                assert!(lines.contains(&line), "{line} in\n{manifest}");
            }
            assert!(lines.contains(&"name = \"my-driver\""));
            assert!(lines.contains(&"name = \"my_driver\""), "the binary");
        }
    }

    #[test]
    fn every_placeholder_is_filled_and_every_file_is_named() {
        let files = files("my-driver", &Deps::Published("0.1.0".into()), &Kind::Legacy).unwrap();
        let paths: Vec<String> = files.iter().map(|(p, _)| p.to_string_lossy().into_owned()).collect();
        assert!(paths.contains(&"my_driver.inx".to_owned()), "{paths:?}");
        for (path, text) in &files {
            assert!(!text.contains("{{"), "{}", path.display());
            assert!(text.ends_with('\n'), "{} ends with a newline", path.display());
        }
        let lib = &files.iter().find(|(p, _)| p == Path::new("src/lib.rs")).unwrap().1;
        assert!(lib.contains(r#"utf16!("\\Device\\MyDriver")"#));
        assert!(lib.contains(r#"utf16!("\\DosDevices\\MyDriver")"#));
        assert!(lib.contains("pub struct MyDriver {"));
        let main = &files.iter().find(|(p, _)| p == Path::new("src/main.rs")).unwrap().1;
        assert!(main.contains("wdm::driver_entry!(my_driver::MyDriver);"));
        let client = &files
            .iter()
            .find(|(p, _)| p == Path::new("client/src/main.rs"))
            .unwrap()
            .1;
        assert!(client.contains(r#"r"\\.\MyDriver""#));
    }

    #[test]
    fn an_unknown_placeholder_is_a_template_bug() {
        let names = names("x").unwrap();
        let e = render("a {{nope}} b", &names, &Deps::Published("1".into()), &Kind::Legacy).unwrap_err();
        assert!(e.contains("{{nope}}"), "{e}");
        // The PnP placeholders are a legacy template's bug.
        let e = render("{{guid}}", &names, &Deps::Published("1".into()), &Kind::Legacy).unwrap_err();
        assert!(e.contains("{{guid}}"), "{e}");
    }

    #[test]
    fn the_command_refuses_what_it_cannot_do() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let interface = command(&args(&["x", "--interface", "781ef630-72b2-11d2-b852-00c04fad5171"]));
        assert!(interface.unwrap_err().contains("give --pnp too"));
        let bad = command(&args(&["x", "--pnp", "--interface", "781ef630"]));
        assert!(bad.unwrap_err().contains("not a GUID"));
        assert!(command(&args(&[])).unwrap_err().contains("name is missing"));
        assert!(command(&args(&["a", "b"])).unwrap_err().contains("one name only"));
        assert!(
            command(&args(&["a", "--frobnicate"]))
                .unwrap_err()
                .contains("unknown option")
        );
        assert!(
            command(&args(&["a", "--path"]))
                .unwrap_err()
                .contains("--path needs a folder")
        );
        let two = command(&args(&["a", "--published", "--wdm-git", "https://g/wdm"]));
        assert!(two.unwrap_err().contains("give one"));
        assert!(
            command(&args(&["a", "--wdm-path", "/"]))
                .unwrap_err()
                .contains("not a wdm repository")
        );
        assert!(command(&args(&["con"])).unwrap_err().contains("reserved"));
    }

    #[test]
    fn a_pnp_crate_is_declared_and_named_after_its_interface() {
        let guid = Guid(0x0123_4567_89ab_4cde_8f01_2345_6789_abcd);
        let files = files("my-driver", &Deps::Published("0.1.0".into()), &Kind::Pnp(guid)).unwrap();
        let file = |name: &str| &files.iter().find(|(p, _)| p == Path::new(name)).unwrap().1;
        for (_, text) in &files {
            assert!(!text.contains("{{"));
        }
        let pnp = crate::pnp::Pnp::from_manifest(file("Cargo.toml")).unwrap().unwrap();
        assert_eq!(pnp.hardware_id, r"root\my_driver");
        assert_eq!(pnp.interface.as_deref(), Some("{01234567-89ab-4cde-8f01-23456789abcd}"));
        assert!(!pnp.upper_filter && pnp.inf.is_none());
        let literal = "from_u128(0x01234567_89ab_4cde_8f01_23456789abcd)";
        assert!(file("src/lib.rs").contains(literal));
        assert!(file("src/lib.rs").contains("impl PnpDevice for MyDriver {"));
        assert!(file("src/lib.rs").contains(r#"pub const HARDWARE_ID: &str = r"root\my_driver";"#));
        assert!(file("client/src/main.rs").contains(literal));
        assert!(file("src/main.rs").contains("wdm::pnp_driver_entry!(my_driver::MyDriver);"));
        assert!(file("my_driver.inx").contains(r"%DeviceDesc% = MyDriver.Install, root\my_driver"));
    }

    #[test]
    fn guids_are_random_version_4_and_read_back() {
        let guids: Vec<Guid> = (0..64).map(|_| Guid::random()).collect();
        for (i, g) in guids.iter().enumerate() {
            assert_eq!((g.0 >> 76) & 0xF, 4, "version 4");
            assert_eq!((g.0 >> 62) & 0x3, 2, "RFC variant");
            assert!(guids[..i].iter().all(|other| other != g), "64 distinct");
            assert_eq!(Guid::parse(&g.braced()), Ok(*g));
            assert_eq!(Guid::parse(&g.braced().to_uppercase()[1..37]), Ok(*g));
        }
        for bad in [
            "",
            "{}",
            "781ef630-72b2-11d2-b852-00c04fad517",
            "781ef630-72b2-11d2-b852-00c04fad517g",
            "{781ef630_72b2_11d2_b852_00c04fad5171}",
        ] {
            assert!(Guid::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_repository_this_was_built_from_is_the_default() {
        let Deps::Path(repo) = Deps::default_source().unwrap() else {
            panic!("a path dependency")
        };
        assert!(repo.is_absolute());
        assert!(repo.join("crates/cargo-wdm/src/new.rs").is_file());
        assert!(!repo.to_string_lossy().contains(".."));
    }
}
