//! Plug and Play drivers under Wine: the root device created and the driver installed on it
//! through SetupAPI, as on Windows, then removed (DIF_REMOVE) and the service stopped.
//!
//! A driver crate says it is PnP in its `Cargo.toml`:
//!
//! ```toml
//! [package.metadata.wdm.pnp]
//! hardware-id = 'root\wdmtoaster'                        # the root device's hardware ID
//! interface = "{8f4c3b1e-2d7a-4e59-a1c6-5b0e9d2f7a31}"   # optional: the interface class it registers
//! inf = "toaster.inf"                                    # optional: its own INF, else one is written
//! upper-filter = true                                    # optional: the driver is an upper filter
//! ```
//!
//! An upper filter cannot run under Wine 8 ([`WINE_NO_FILTERS`]): `cargo wdm run` stops with
//! that reason and `cargo xtask e2e` reports the sample as not run.
//!
//! Then `cargo wdm run` (and `cargo xtask e2e` for the repository's samples) does, through
//! [`Prefix::run_pnp`]:
//!
//! 1. the `.sys` copied into `C:\windows\system32\drivers` and the INF ([`inf`], or the
//!    crate's own) next to the installer in `C:\wdm-pnp`;
//! 2. `pnp-install install <inf> <hardware-id>` (`wine/pnp-install.c`, built with mingw by
//!    [`installer`]): SetupDiCreateDeviceInfoW(`ROOT\<name>\NNNN`, DICD_GENERATE_ID) in the
//!    INF's class, DIF_REGISTERDEVICE, SPDRP_HARDWAREID, UpdateDriverForPlugAndPlayDevicesW
//!    (INSTALLFLAG_FORCE), which starts the service: AddDevice and START_DEVICE have run when
//!    it returns; with `interface`, the interface must then be present;
//! 3. the client, with no extra arguments: it finds the device itself by its interface class
//!    (SetupDiGetClassDevs(DIGCF_DEVICEINTERFACE | DIGCF_PRESENT) and
//!    SetupDiGetDeviceInterfaceDetailW; `e2e/client`'s `pnp::interface_path` in Rust);
//! 4. `pnp-install remove <hardware-id>`: DIF_REMOVE, to which Wine 8 answers with
//!    SURPRISE_REMOVAL then REMOVE_DEVICE; with `interface`, it must then be gone;
//! 5. `sc stop <service>` and the wait for STOPPED ([`Prefix::stop_service`]): the driver
//!    unloaded.
//!
//! Measured facts this follows: `../shared/spec/wine-pnp.md` (the recipe, `wineserver -w`
//! after `wineboot -i`, which [`Prefix::create`] does). Wine 8 loads no filter drivers
//! (`dlls/ntoskrnl.exe/pnp.c` loads only the device's Service; see e2e/wine/README.md).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::wine::{MINGW_GCC, Prefix};

/// The installer's source (`wine/pnp-install.c`).
pub const INSTALLER_SOURCE: &str = include_str!("../wine/pnp-install.c");

/// The System device setup class, which the written INF installs into.
pub const SYSTEM_CLASS_GUID: &str = "{4d36e97d-e325-11ce-bfc1-08002be10318}";

/// Where the installer, the INF and a copy of the `.sys` go in a prefix.
pub const PREFIX_DIR: &str = r"C:\wdm-pnp";

/// A PnP driver's declaration (`[package.metadata.wdm.pnp]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pnp {
    /// The root device's hardware ID, e.g. `root\wdmtoaster`.
    pub hardware_id: String,
    /// The device interface class the driver registers and enables at START, braced
    /// (`{...}`); when set, the installation checks that it appears and the removal that it
    /// goes.
    pub interface: Option<String>,
    /// The crate's own INF, relative to the crate; when unset, [`inf`] writes one.
    pub inf: Option<PathBuf>,
    /// The driver is an upper filter on that device, not its function driver.
    pub upper_filter: bool,
}

/// Why an upper filter driver cannot run under Wine 8 (measured with `cargo xtask wine-pnp
/// filter`; e2e/wine/README.md, "PnP drivers").
pub const WINE_NO_FILTERS: &str = "Wine 8 loads no filter drivers: its PnP manager (dlls/ntoskrnl.exe/pnp.c, \
    load_function_driver) calls AddDevice of the device's Service only and never reads UpperFilters \
    (tried: SPDRP_UPPERFILTERS before the install, UpperFilters in the INF's .HW AddReg, the class key's \
    UpperFilters, and the filter's service already running: its AddDevice was never called)";

impl Pnp {
    /// The declaration in a `Cargo.toml`, if it has one.
    ///
    /// ```
    /// use cargo_wdm::pnp::Pnp;
    /// let manifest = "[package]\nname = 't'\n[package.metadata.wdm.pnp]\nhardware-id = 'root\\wdmtoaster'\n";
    /// let pnp = Pnp::from_manifest(manifest).unwrap().unwrap();
    /// assert_eq!(pnp.hardware_id, r"root\wdmtoaster");
    /// assert_eq!(Pnp::from_manifest("[package]\nname = 't'\n").unwrap(), None);
    /// assert!(Pnp::from_manifest("[package.metadata.wdm]\npnp = { interface = '{x}' }\n").is_err());
    /// ```
    pub fn from_manifest(manifest: &str) -> Result<Option<Pnp>, String> {
        let doc: toml::Table = manifest.parse().map_err(|e| format!("Cargo.toml: {e}"))?;
        let Some(pnp) = doc
            .get("package")
            .and_then(|p| p.get("metadata"))
            .and_then(|m| m.get("wdm"))
            .and_then(|w| w.get("pnp"))
        else {
            return Ok(None);
        };
        let table = pnp
            .as_table()
            .ok_or("[package.metadata.wdm] pnp must be a table: pnp = { hardware-id = 'root\\name' }")?;
        let text = |key: &str| -> Result<Option<String>, String> {
            match table.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_str()
                    .map(|s| Some(s.to_owned()))
                    .ok_or(format!("[package.metadata.wdm.pnp] {key} must be a string")),
            }
        };
        if let Some(unknown) = table
            .keys()
            .find(|k| !["hardware-id", "interface", "inf", "upper-filter"].contains(&k.as_str()))
        {
            return Err(format!(
                "[package.metadata.wdm.pnp]: unknown key {unknown} (hardware-id, interface, inf, upper-filter)"
            ));
        }
        let upper_filter = match table.get("upper-filter") {
            None => false,
            Some(v) => v
                .as_bool()
                .ok_or("[package.metadata.wdm.pnp] upper-filter must be true or false")?,
        };
        let hardware_id = text("hardware-id")?
            .filter(|h| !h.is_empty())
            .ok_or("[package.metadata.wdm.pnp] needs hardware-id, e.g. hardware-id = 'root\\wdmtoaster'")?;
        let interface = text("interface")?
            .map(|g| {
                let braced = if g.starts_with('{') { g } else { format!("{{{g}}}") };
                if is_guid(&braced) {
                    Ok(braced)
                } else {
                    Err(format!("[package.metadata.wdm.pnp] interface = {braced}: not a GUID"))
                }
            })
            .transpose()?;
        Ok(Some(Pnp {
            hardware_id,
            interface,
            inf: text("inf")?.map(PathBuf::from),
            upper_filter,
        }))
    }

    /// The declaration in the `Cargo.toml` of the crate at `dir`, if it has one.
    pub fn of_crate(dir: &Path) -> Result<Option<Pnp>, String> {
        let path = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut pnp = Self::from_manifest(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(p) = &mut pnp
            && let Some(inf) = &mut p.inf
        {
            *inf = dir.join(&*inf);
        }
        Ok(pnp)
    }
}

/// `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}`.
fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 38
        && b[0] == b'{'
        && b[37] == b'}'
        && b[1..37].iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The INF for a root-enumerated PnP function driver `service` (its image `<service>.sys`),
/// installed on the devices listing `hardware_id`, in the System class: Signature
/// `$Chicago$`, a Manufacturer with plain and `.NTamd64` models, an install section with an
/// AddReg, and `[<section>.Services]` adding the service as a demand-start kernel driver
/// (ServiceType 1, StartType 3, `%12%\<service>.sys`). It copies no files: the caller puts
/// the `.sys` into `system32\drivers` (Wine's own recipe, `../shared/spec/wine-pnp.md`).
///
/// ```
/// let inf = cargo_wdm::pnp::inf("wdmtoaster", r"root\wdmtoaster");
/// assert!(inf.contains("%DeviceDesc% = WdmInstall, root\\wdmtoaster\r\n"));
/// ```
pub fn inf(service: &str, hardware_id: &str) -> String {
    let text = format!(
        r#"; {service}.inf: written by cargo-wdm (cargo_wdm::pnp::inf) for a root-enumerated PnP driver.
[Version]
Signature = "$Chicago$"
Class = System
ClassGuid = {SYSTEM_CLASS_GUID}
Provider = %Provider%
DriverVer = 01/01/2025,1.0.0.0

[Manufacturer]
%Provider% = WdmModels,NTamd64

[WdmModels]
%DeviceDesc% = WdmInstall, {hardware_id}

[WdmModels.NTamd64]
%DeviceDesc% = WdmInstall, {hardware_id}

[WdmInstall]
AddReg = WdmInstall.AddReg

[WdmInstall.AddReg]
HKR,,InstalledBy,0x00000000,"cargo-wdm"

[WdmInstall.Services]
AddService = {service},0x00000002,WdmService

[WdmService]
DisplayName = %ServiceDesc%
ServiceType = 1
StartType = 3
ErrorControl = 1
ServiceBinary = %12%\{service}.sys

[Strings]
Provider = "cargo-wdm"
DeviceDesc = "{service} device ({hardware_id})"
ServiceDesc = "{service} driver"
"#
    );
    text.replace('\n', "\r\n")
}

/// FNV-1a, 64 bits: the cache key of the installer (its source and how it is built).
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The mingw flags the installer is built with.
const INSTALLER_FLAGS: &[&str] = &["-O2", "-s", "-municode", "-Wall", "-Wextra"];

/// `pnp-install.exe`, built with mingw (`-lsetupapi -lnewdev`) into `cache` once per source:
/// `<cache>/pnp-install-<hash>.exe`. Returns its path.
pub fn installer(cache: &Path) -> Result<PathBuf, String> {
    let key = fnv(format!("{INSTALLER_SOURCE}\0{}", INSTALLER_FLAGS.join(" ")).as_bytes());
    let exe = cache.join(format!("pnp-install-{key:016x}.exe"));
    if exe.is_file() {
        return Ok(exe);
    }
    std::fs::create_dir_all(cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let pid = std::process::id();
    let source = cache.join(format!("pnp-install-{pid}.c"));
    let partial = cache.join(format!("pnp-install-{pid}.exe.part"));
    std::fs::write(&source, INSTALLER_SOURCE).map_err(|e| format!("{}: {e}", source.display()))?;
    let out = Command::new(MINGW_GCC)
        .args(INSTALLER_FLAGS)
        .arg("-o")
        .arg(&partial)
        .arg(&source)
        .args(["-lsetupapi", "-lnewdev"])
        .output()
        .map_err(|e| format!("{MINGW_GCC}: {e} (install gcc-mingw-w64-x86-64)"));
    let _ = std::fs::remove_file(&source);
    let out = out?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&partial);
        return Err(format!(
            "building pnp-install.exe failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::rename(&partial, &exe).map_err(|e| format!("{}: {e}", exe.display()))?;
    Ok(exe)
}

/// What the installation did.
#[derive(Clone, Debug)]
pub struct Installed {
    /// The installer's line (`pnp-install: ok installed ... as ROOT\...\0000 ...`).
    pub line: String,
    /// The interface path, when the declaration names the interface.
    pub interface_path: Option<String>,
    /// Seconds, from the copy of the image to the installer's return (and the interface check).
    pub seconds: f64,
}

/// What the removal did.
#[derive(Clone, Debug)]
pub struct Removed {
    /// The installer's line (`pnp-install: ok removed 1 device(s) ...`).
    pub line: String,
    /// Seconds spent in DIF_REMOVE (and the check that the interface is gone).
    pub remove_seconds: f64,
    /// Seconds from `sc stop` to STOPPED.
    pub stop_seconds: f64,
}

/// A whole run: [`Prefix::run_pnp`].
pub struct Run<T> {
    /// The installation; on failure, nothing else ran.
    pub installed: Result<Installed, String>,
    /// What the client step returned (`None` when the installation failed).
    pub client: Option<T>,
    /// Seconds in the client step.
    pub client_seconds: f64,
    /// The removal, DIF_REMOVE then `sc stop` then STOPPED (`None` when the installation failed).
    pub removed: Option<Result<Removed, String>>,
}

impl<T> Run<T> {
    /// "install 0.80 s, client 0.40 s, DIF_REMOVE 0.10 s, sc stop to STOPPED 0.60 s".
    pub fn timings(&self) -> String {
        let run = self;
        let mut parts = Vec::new();
        if let Ok(i) = &run.installed {
            parts.push(format!("install {:.2} s", i.seconds));
            parts.push(format!("client {:.2} s", run.client_seconds));
        }
        if let Some(Ok(r)) = &run.removed {
            parts.push(format!("DIF_REMOVE {:.2} s", r.remove_seconds));
            parts.push(format!("sc stop to STOPPED {:.2} s", r.stop_seconds));
        }
        parts.join(", ")
    }
}

/// The line a PnP sample's end-to-end summary carries.
pub const SUMMARY: &str = "installed through SetupAPI; SURPRISE_REMOVAL + REMOVE by DIF_REMOVE; unloaded";

impl Prefix {
    /// Runs `pnp-install.exe <args>` (installed by [`Prefix::install_pnp`]) in the prefix; its
    /// one-line result, `Err` with that line (and the exit code) when it failed.
    pub fn pnp_install(&self, args: &[&str]) -> Result<String, String> {
        let exe = format!(r"{PREFIX_DIR}\pnp-install.exe");
        let mut command = vec![exe.as_str()];
        command.extend_from_slice(args);
        let out = self.wine(Duration::from_secs(120), &command)?;
        let stdout = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with("pnp-install:"))
            .unwrap_or("")
            .trim()
            .to_owned();
        match out.status.code() {
            Some(0) => Ok(line),
            Some(124) => Err(format!(
                "pnp-install {} timed out after 120 s; see {}",
                args.join(" "),
                self.log.display()
            )),
            code => Err(if line.is_empty() {
                format!(
                    "pnp-install {} exited with {code:?}: {}{}",
                    args.join(" "),
                    stdout.trim(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )
            } else {
                line
            }),
        }
    }

    /// Installs the PnP driver `name` (its image `sys`) on a new root device through SetupAPI:
    /// copies the image into `system32\drivers`, the installer and the INF (the crate's own, or
    /// [`inf`]) into [`PREFIX_DIR`], runs `pnp-install install`, and with an interface
    /// declared, checks that it is present.
    pub fn install_pnp(&self, installer: &Path, sys: &Path, name: &str, pnp: &Pnp) -> Result<Installed, String> {
        let started = Instant::now();
        let drivers = self.drive_c().join("windows/system32/drivers");
        std::fs::copy(sys, drivers.join(format!("{name}.sys"))).map_err(|e| format!("copying the image: {e}"))?;
        let dir = self.drive_c().join("wdm-pnp");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::copy(installer, dir.join("pnp-install.exe")).map_err(|e| format!("copying pnp-install.exe: {e}"))?;
        std::fs::copy(sys, dir.join(format!("{name}.sys"))).map_err(|e| format!("copying the image: {e}"))?;
        let inf_name = format!("{name}.inf");
        match &pnp.inf {
            Some(own) => std::fs::copy(own, dir.join(&inf_name))
                .map(drop)
                .map_err(|e| format!("{}: {e}", own.display()))?,
            None => std::fs::write(dir.join(&inf_name), inf(name, &pnp.hardware_id)).map_err(|e| e.to_string())?,
        }
        let inf_path = format!(r"{PREFIX_DIR}\{inf_name}");
        let line = self.pnp_install(&["install", &inf_path, &pnp.hardware_id])?;
        let interface_path = match &pnp.interface {
            None => None,
            Some(guid) => Some(self.pnp_install(&["find", guid, "5000"]).map_err(|e| {
                format!(
                    "{line}, but the driver's interface {guid} did not appear ({e}); see {}",
                    self.log.display()
                )
            })?),
        };
        Ok(Installed {
            line,
            interface_path: interface_path.map(|l| {
                l.trim_start_matches("pnp-install: ok interface ")
                    .split(" after ")
                    .next()
                    .unwrap_or("")
                    .to_owned()
            }),
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Removes the devices of `pnp` (DIF_REMOVE: SURPRISE_REMOVAL, then REMOVE_DEVICE), checks
    /// that the declared interface is gone, then stops the service `name` and waits for
    /// STOPPED (the driver unloaded).
    pub fn remove_pnp(&self, name: &str, pnp: &Pnp) -> Result<Removed, String> {
        let started = Instant::now();
        let line = self.pnp_install(&["remove", &pnp.hardware_id])?;
        if let Some(guid) = &pnp.interface {
            match self.pnp_install(&["find", guid, "0"]) {
                Err(e) if e.starts_with("pnp-install: none") => {}
                Ok(found) => return Err(format!("{line}, but the interface is still present: {found}")),
                Err(e) => return Err(e),
            }
        }
        let remove_seconds = started.elapsed().as_secs_f64();
        let stopping = Instant::now();
        self.stop_service(name).map_err(|e| format!("{line}, then {e}"))?;
        Ok(Removed {
            line,
            remove_seconds,
            stop_seconds: stopping.elapsed().as_secs_f64(),
        })
    }

    /// The whole PnP run, which `cargo wdm run` and `cargo xtask e2e` share: [`Prefix::install_pnp`],
    /// then `client` (given the installation), then [`Prefix::remove_pnp`] whatever the client
    /// did.
    pub fn run_pnp<T>(
        &self,
        installer: &Path,
        sys: &Path,
        name: &str,
        pnp: &Pnp,
        client: impl FnOnce(&Installed) -> T,
    ) -> Run<T> {
        let installed = if pnp.upper_filter {
            Err(WINE_NO_FILTERS.to_owned())
        } else {
            self.install_pnp(installer, sys, name, pnp)
        };
        let Ok(done) = &installed else {
            return Run {
                installed,
                client: None,
                client_seconds: 0.0,
                removed: None,
            };
        };
        let started = Instant::now();
        let result = client(done);
        let client_seconds = started.elapsed().as_secs_f64();
        let removed = self.remove_pnp(name, pnp);
        Run {
            installed,
            client: Some(result),
            client_seconds,
            removed: Some(removed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inf_follows_the_recipe() {
        let inf = inf("wdmtoaster", r"root\wdmtoaster");
        assert!(
            inf.ends_with("\r\n") && !inf.replace("\r\n", "").contains('\n'),
            "CRLF line ends"
        );
        let text = inf.replace("\r\n", "\n");
        for line in [
            "[Version]",
            r#"Signature = "$Chicago$""#,
            "Class = System",
            "ClassGuid = {4d36e97d-e325-11ce-bfc1-08002be10318}",
            "[Manufacturer]",
            "%Provider% = WdmModels,NTamd64",
            "[WdmModels]",
            "[WdmModels.NTamd64]",
            r"%DeviceDesc% = WdmInstall, root\wdmtoaster",
            "[WdmInstall]",
            "AddReg = WdmInstall.AddReg",
            "[WdmInstall.AddReg]",
            "[WdmInstall.Services]",
            "AddService = wdmtoaster,0x00000002,WdmService",
            "ServiceType = 1",
            "StartType = 3",
            r"ServiceBinary = %12%\wdmtoaster.sys",
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
        }
        // The hardware ID in both models sections, and nothing copied (the caller copies the image).
        assert_eq!(text.matches(r"WdmInstall, root\wdmtoaster").count(), 2);
        assert!(!text.contains("CopyFiles"));
    }

    #[test]
    fn the_declaration_is_checked() {
        let pnp = Pnp::from_manifest(
            "[package]\nname = 'toaster'\n[package.metadata.wdm]\npnp = { hardware-id = 'root\\wdmtoaster', \
             interface = '8f4c3b1e-2d7a-4e59-a1c6-5b0e9d2f7a31', inf = 'toaster.inf' }\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            pnp,
            Pnp {
                hardware_id: r"root\wdmtoaster".into(),
                interface: Some("{8f4c3b1e-2d7a-4e59-a1c6-5b0e9d2f7a31}".into()),
                inf: Some("toaster.inf".into()),
                upper_filter: false,
            }
        );
        let filter = Pnp::from_manifest("[package.metadata.wdm.pnp]\nhardware-id = 'root\\x'\nupper-filter = true\n");
        assert!(filter.unwrap().unwrap().upper_filter);
        for bad in [
            "[package.metadata.wdm]\npnp = true\n",
            "[package.metadata.wdm.pnp]\nhardware-id = ''\n",
            "[package.metadata.wdm.pnp]\nhardware-id = 'root\\x'\ninterface = 'nope'\n",
            "[package.metadata.wdm.pnp]\nhardware-id = 'root\\x'\nhardwareid = 'typo'\n",
            "[package.metadata.wdm.pnp]\nhardware-id = 'root\\x'\nupper-filter = 'yes'\n",
        ] {
            assert!(Pnp::from_manifest(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_installer_key_changes_with_its_source() {
        assert_ne!(fnv(INSTALLER_SOURCE.as_bytes()), fnv(b"other"));
        assert!(INSTALLER_SOURCE.contains("UpdateDriverForPlugAndPlayDevicesW"));
        assert!(INSTALLER_SOURCE.contains("DIF_REMOVE"));
    }
}
