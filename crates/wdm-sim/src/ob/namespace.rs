//! The object names a booted Windows already has before any driver loads.
//!
//! A driver is never the first thing in the object manager's namespace: by the time
//! DriverEntry runs, the Session Manager, the I/O manager and the boot drivers have filled
//! `\GLOBAL??` (which `\DosDevices`, `\??` and `\\.\` name) and `\Device`. A driver whose device
//! or link takes one of those names fails to load with STATUS_OBJECT_NAME_COLLISION, on Windows
//! and under Wine. Every simulated machine starts with the same names, so that a test fails
//! where Windows would: a driver linking `\DosDevices\Pipe` passed every test of an empty
//! namespace and then failed to load under Wine (names are case-insensitive, and Pipe is the
//! named-pipe file system's PIPE).
//!
//! # Which names, and why
//!
//! Only names a well-founded source says a booted system has are listed; each row of
//! [`BOOT_NAMESPACE`] is from one of these:
//!
//! 1. **The Session Manager's `DOS Devices`** (HKLM\SYSTEM\CurrentControlSet\Control\Session
//!    Manager\DOS Devices, the links smss.exe creates at every boot; default entries in the
//!    Windows NT Resource Kit's registry reference, "Session Manager", MSDN Library June 1998,
//!    <https://library.thedatadungeon.com/msdn-1998-06/dnwinnt/HTML/D1E/S84CC.content.HTM>):
//!    `AUX` → `\DosDevices\COM1`, `MAILSLOT` → `\Device\MailSlot`, `NUL` → `\Device\Null`,
//!    `PIPE` → `\Device\NamedPipe`, `PRN` → `\DosDevices\LPT1`, `UNC` → `\Device\Mup`. (The
//!    list's `TELNET` was NT 4's alone and is left out.)
//! 2. **The reserved device names** of "Naming Files, Paths, and Namespaces"
//!    (<https://learn.microsoft.com/windows/win32/fileio/naming-a-file>): CON, PRN, AUX, NUL,
//!    COM1–COM9, LPT1–LPT9. Win32 turns a path naming one of them into `\\.\NAME`, so they are
//!    names every program may open; the same page's "NT Namespaces" section shows what they and
//!    the other `Global??` entries link to: `COMn` → `\Device\Serial(n-1)`, `C:` →
//!    `\Device\HarddiskVolume1`, `PhysicalDrive0` → `\Device\Harddisk0\DR0`. The serial and
//!    parallel port drivers create `COMn`/`LPTn` with `\Device\Serial(n-1)`/`\Device\Parallel(n-1)`
//!    (Wine's mountmgr.sys does the same for the host's ports, `create_port_device` in
//!    dlls/mountmgr.sys/device.c), so the simulated machine has all nine of each: a driver
//!    that claims a reserved name collides on every machine that has that port. The
//!    superscript forms the page also reserves (`COM¹`, `LPT²`, ...) are file-name rules of
//!    Win32's path parser with no object behind them, and are not listed.
//! 3. **What the object manager itself creates**, as Wine's server does at start-up
//!    (`init_directories`, server/directory.c): `\GLOBAL??\GLOBALROOT` (→ the root),
//!    `\GLOBAL??\Global` (→ `\GLOBAL??`, the name "Local and Global MS-DOS Device Names"
//!    documents as `\DosDevices\Global`,
//!    <https://learn.microsoft.com/windows-hardware/drivers/kernel/local-and-global-ms-dos-device-names>),
//!    the console links `CON`, `CONIN$`, `CONOUT$` (→ `\Device\ConDrv\...`, Windows 8 and
//!    later), and the devices `\Device\NamedPipe`, `\Device\Mailslot`, `\Device\Null`,
//!    `\Device\ConDrv`, `\Device\Afd`.
//! 4. **The top-level directories** of "Object Directories"
//!    (<https://learn.microsoft.com/windows-hardware/drivers/kernel/object-directories>):
//!    `\Callback`, `\Device`, `\KernelObjects`, `\DosDevices`, with `\Driver` that every
//!    kernel has (Wine's `init_directories` creates it). `\DosDevices` is a link to `\??`,
//!    which for a system thread is `\GLOBAL??`: the simulator has the one directory, listed as
//!    `\GLOBAL??`, and reaches it by every one of those names.
//!
//! Every link's target is itself a name of this machine (or inside one of its devices, as
//! `\Device\ConDrv\Console` is), so a link a driver makes to one of them resolves as on Windows.
//!
//! Left out on purpose: names that depend on the hardware or the installation and that no
//! driver would take by accident (`HarddiskVolume2`, `CdRom0`, `Volume{GUID}`, other drive
//! letters), and the session-local `\Sessions\...\DosDevices` directories (the simulator has one
//! global DOS device directory, as system threads see it).
//!
//! # What a driver can do with them
//!
//! - **Create**: IoCreateDevice or IoCreateSymbolicLink of one of these names (in any case,
//!   through any of `\DosDevices\`, `\??\`, `\GLOBAL??\`, `\DosDevices\Global\`) returns
//!   STATUS_OBJECT_NAME_COLLISION, as on Windows.
//! - **Delete**: Windows' IoDeleteSymbolicLink opens the link for DELETE with a kernel handle,
//!   which skips the access check, and makes it temporary (ReactOS, io/iomgr/symlink.c): called
//!   with `\DosDevices\PIPE` it really removes the system's link, and every program's named
//!   pipes stop working until the next boot. That is a driver bug even when the driver only
//!   meant to undo its own failed link, so the simulator reports it
//!   ([`Rule::SystemNameDeleted`](crate::Rule::SystemNameDeleted)) and returns
//!   STATUS_SUCCESS, as Windows does, but keeps the name: the report already fails the test,
//!   and the machine stays the booted one for the checks that follow. A boot-time device or
//!   directory is not a link: IoDeleteSymbolicLink of it returns STATUS_OBJECT_TYPE_MISMATCH,
//!   as NtOpenSymbolicLinkObject does for an object of another type.
//! - **Open**: the simulator has no named-pipe file system, console or disk behind them; a test
//!   that opens one (`Kernel::open(r"\\.\NUL")`) gets STATUS_OBJECT_NAME_NOT_FOUND.
//! - **Leaks**: they belong to no driver, so they never count as a driver's leftovers at unload
//!   nor in [`Kernel::assert_clean`](crate::Kernel::assert_clean).
//!
//! The table is the same for every [`Kernel`](crate::Kernel): no driver can add to it or take
//! from it, so one static copy serves them all.

use std::collections::HashMap;
use std::sync::LazyLock;

/// What kind of object a boot-time name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An object directory (`\Device`, `\Device\Harddisk0`).
    Directory,
    /// A device object a system driver created (`\Device\Null`).
    Device,
    /// A symbolic link, with its target (`\GLOBAL??\PIPE` → `\Device\NamedPipe`); the empty
    /// target is the root (`GLOBALROOT`).
    SymbolicLink(&'static str),
}

/// One name of the namespace a booted Windows has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootObject {
    /// Its full name, spelled as Windows spells it.
    pub name: &'static str,
    /// What it is.
    pub kind: Kind,
}

const fn device(name: &'static str) -> BootObject {
    BootObject {
        name,
        kind: Kind::Device,
    }
}

const fn directory(name: &'static str) -> BootObject {
    BootObject {
        name,
        kind: Kind::Directory,
    }
}

const fn link(name: &'static str, target: &'static str) -> BootObject {
    BootObject {
        name,
        kind: Kind::SymbolicLink(target),
    }
}

/// Every name a simulated machine has before the first driver loads (the module docs say where
/// each comes from).
pub const BOOT_NAMESPACE: &[BootObject] = &[
    // Top-level directories and the DosDevices link (source 4).
    directory(r"\Callback"),
    directory(r"\Device"),
    directory(r"\Driver"),
    directory(r"\GLOBAL??"),
    directory(r"\KernelObjects"),
    // The Session Manager's DOS Devices (source 1).
    link(r"\GLOBAL??\AUX", r"\DosDevices\COM1"),
    link(r"\GLOBAL??\MAILSLOT", r"\Device\MailSlot"),
    link(r"\GLOBAL??\NUL", r"\Device\Null"),
    link(r"\GLOBAL??\PIPE", r"\Device\NamedPipe"),
    link(r"\GLOBAL??\PRN", r"\DosDevices\LPT1"),
    link(r"\GLOBAL??\UNC", r"\Device\Mup"),
    // The object manager's own links and the console (source 3).
    link(r"\GLOBAL??\GLOBALROOT", ""),
    link(r"\GLOBAL??\Global", r"\GLOBAL??"),
    link(r"\GLOBAL??\CON", r"\Device\ConDrv\Console"),
    link(r"\GLOBAL??\CONIN$", r"\Device\ConDrv\CurrentIn"),
    link(r"\GLOBAL??\CONOUT$", r"\Device\ConDrv\CurrentOut"),
    // The system disk (source 2).
    link(r"\GLOBAL??\C:", r"\Device\HarddiskVolume1"),
    link(r"\GLOBAL??\PhysicalDrive0", r"\Device\Harddisk0\DR0"),
    // The reserved port names (source 2).
    link(r"\GLOBAL??\COM1", r"\Device\Serial0"),
    link(r"\GLOBAL??\COM2", r"\Device\Serial1"),
    link(r"\GLOBAL??\COM3", r"\Device\Serial2"),
    link(r"\GLOBAL??\COM4", r"\Device\Serial3"),
    link(r"\GLOBAL??\COM5", r"\Device\Serial4"),
    link(r"\GLOBAL??\COM6", r"\Device\Serial5"),
    link(r"\GLOBAL??\COM7", r"\Device\Serial6"),
    link(r"\GLOBAL??\COM8", r"\Device\Serial7"),
    link(r"\GLOBAL??\COM9", r"\Device\Serial8"),
    link(r"\GLOBAL??\LPT1", r"\Device\Parallel0"),
    link(r"\GLOBAL??\LPT2", r"\Device\Parallel1"),
    link(r"\GLOBAL??\LPT3", r"\Device\Parallel2"),
    link(r"\GLOBAL??\LPT4", r"\Device\Parallel3"),
    link(r"\GLOBAL??\LPT5", r"\Device\Parallel4"),
    link(r"\GLOBAL??\LPT6", r"\Device\Parallel5"),
    link(r"\GLOBAL??\LPT7", r"\Device\Parallel6"),
    link(r"\GLOBAL??\LPT8", r"\Device\Parallel7"),
    link(r"\GLOBAL??\LPT9", r"\Device\Parallel8"),
    // The devices behind them (sources 1 to 3).
    device(r"\Device\Null"),
    device(r"\Device\NamedPipe"),
    device(r"\Device\Mailslot"),
    device(r"\Device\Mup"),
    device(r"\Device\ConDrv"),
    device(r"\Device\Afd"),
    device(r"\Device\HarddiskVolume1"),
    directory(r"\Device\Harddisk0"),
    device(r"\Device\Harddisk0\DR0"),
    device(r"\Device\Serial0"),
    device(r"\Device\Serial1"),
    device(r"\Device\Serial2"),
    device(r"\Device\Serial3"),
    device(r"\Device\Serial4"),
    device(r"\Device\Serial5"),
    device(r"\Device\Serial6"),
    device(r"\Device\Serial7"),
    device(r"\Device\Serial8"),
    device(r"\Device\Parallel0"),
    device(r"\Device\Parallel1"),
    device(r"\Device\Parallel2"),
    device(r"\Device\Parallel3"),
    device(r"\Device\Parallel4"),
    device(r"\Device\Parallel5"),
    device(r"\Device\Parallel6"),
    device(r"\Device\Parallel7"),
    device(r"\Device\Parallel8"),
];

/// [`BOOT_NAMESPACE`] by canonical name ([`crate::object::canonical`]).
static BY_NAME: LazyLock<HashMap<String, &'static BootObject>> = LazyLock::new(|| {
    BOOT_NAMESPACE
        .iter()
        .map(|o| (crate::object::canonical(o.name), o))
        .collect()
});

/// The boot-time object with this canonical name, if there is one.
pub(crate) fn lookup(canonical: &str) -> Option<&'static BootObject> {
    BY_NAME.get(canonical).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::canonical;

    #[test]
    fn no_two_rows_name_the_same_object() {
        assert_eq!(
            BY_NAME.len(),
            BOOT_NAMESPACE.len(),
            "a name is listed twice (in some spelling)"
        );
    }

    /// A link that led nowhere would make the machine one no Windows is.
    #[test]
    fn every_link_leads_to_an_object_of_the_machine() {
        for object in BOOT_NAMESPACE {
            let Kind::SymbolicLink(target) = object.kind else {
                continue;
            };
            if target.is_empty() {
                continue; // GLOBALROOT: the root directory.
            }
            let mut name = canonical(target);
            let found = loop {
                match lookup(&name).map(|o| o.kind) {
                    Some(Kind::SymbolicLink(next)) => name = canonical(next),
                    Some(_) => break true,
                    // Inside a device (\Device\ConDrv\Console): the device parses the rest.
                    None => {
                        break BOOT_NAMESPACE
                            .iter()
                            .any(|o| o.kind == Kind::Device && name.starts_with(&format!("{}\\", canonical(o.name))));
                    }
                }
            };
            assert!(found, "{} -> {target}: no such object", object.name);
        }
    }
}
