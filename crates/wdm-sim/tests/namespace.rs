//! The namespace a simulated machine boots with (`wdm_sim::namespace`): a driver whose device or
//! link takes a name Windows already has fails to load with STATUS_OBJECT_NAME_COLLISION, in
//! any case and through any name of the DOS device directory; the boot-time names cannot be
//! deleted, and are nobody's leak.

#![allow(clippy::multiple_unsafe_ops_per_block, clippy::missing_safety_doc)]

mod common;

use std::cell::RefCell;

use common::*;
use wdm_sim::namespace::{BOOT_NAMESPACE, Kind};
use wdm_sim::{Kernel, Rule};
use wdm_sys::ntddk::*;
use wdm_sys::*;

thread_local! {
    /// The names the next `entry` uses: its device, and its link (DriverEntry runs on the
    /// thread that calls `Kernel::load`).
    static NAMES: RefCell<(String, String)> = const { RefCell::new((String::new(), String::new())) };
    /// What `probe_entry` found: every name that did not collide, with what it got.
    static NOT_TAKEN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

unsafe extern "C-unwind" fn unload(driver: PDRIVER_OBJECT) {
    let link = NAMES.with(|n| n.borrow().1.clone());
    // SAFETY: the driver's own link and device.
    unsafe {
        assert_eq!(IoDeleteSymbolicLink(&mut unicode(&link)), STATUS_SUCCESS);
        IoDeleteDevice((*driver).DeviceObject);
    }
}

/// A driver as a C sample writes it: creates its device and link, and on failure deletes what
/// it created and returns the status.
unsafe extern "C-unwind" fn entry(driver: PDRIVER_OBJECT, _r: PUNICODE_STRING) -> NTSTATUS {
    let (device_name, link) = NAMES.with(|n| n.borrow().clone());
    let mut device_name = unicode(&device_name);
    let mut device: PDEVICE_OBJECT = std::ptr::null_mut();
    // SAFETY: a fresh driver object and valid names.
    unsafe {
        let status = IoCreateDevice(driver, 0, &mut device_name, FILE_DEVICE_UNKNOWN, 0, 0, &mut device);
        if status != STATUS_SUCCESS {
            return status;
        }
        let status = IoCreateSymbolicLink(&mut unicode(&link), &mut device_name);
        if status != STATUS_SUCCESS {
            IoDeleteDevice(device);
            return status;
        }
        open_close(driver);
        (*driver).DriverUnload = Some(unload);
    }
    STATUS_SUCCESS
}

fn load_with<'k>(kernel: &'k Kernel, device: &str, link: &str) -> Result<wdm_sim::Driver<'k>, NTSTATUS> {
    NAMES.with(|n| *n.borrow_mut() = (device.to_owned(), link.to_owned()));
    kernel.load("named", entry)
}

#[test]
fn a_link_to_a_name_windows_has_fails_to_load_in_any_spelling() {
    for link in [
        r"\DosDevices\Pipe",
        r"\DosDevices\pipe",
        r"\??\PIPE",
        r"\GLOBAL??\Pipe",
        r"\DosDevices\Global\Pipe",
        r"\DosDevices\Global\Global\Pipe",
        r"\DosDevices\MailSlot",
        r"\DosDevices\NUL",
        r"\DosDevices\Con",
        r"\DosDevices\CONOUT$",
        r"\DosDevices\aux",
        r"\DosDevices\Prn",
        r"\DosDevices\COM1",
        r"\DosDevices\com9",
        r"\DosDevices\LPT1",
        r"\DosDevices\C:",
        r"\DosDevices\PhysicalDrive0",
        r"\DosDevices\UNC",
        r"\DosDevices\Global",
        r"\DosDevices\GLOBALROOT",
        r"\DosDevices\GLOBALROOT\Device\Null",
    ] {
        let kernel = Kernel::new();
        let status = load_with(&kernel, r"\Device\Named", link).map(|_| ()).unwrap_err();
        assert_eq!(status, STATUS_OBJECT_NAME_COLLISION, "{link}");
        // The driver deleted its device on the way out; the failed load leaves nothing.
        kernel.assert_clean();
    }
}

#[test]
fn a_device_named_as_a_system_device_fails_to_load() {
    for device in [
        r"\Device\Null",
        r"\Device\NamedPipe",
        r"\device\NAMEDPIPE",
        r"\Device\MailSlot",
        r"\Device\Serial0",
    ] {
        let kernel = Kernel::new();
        let status = load_with(&kernel, device, r"\DosDevices\Named")
            .map(|_| ())
            .unwrap_err();
        assert_eq!(status, STATUS_OBJECT_NAME_COLLISION, "{device}");
        kernel.assert_clean();
    }
}

/// The list is no wider than Windows': names next to the reserved ones are free, and a link
/// made through `\DosDevices\Global` opens by its plain name.
#[test]
fn names_windows_does_not_have_are_free() {
    for (link, open) in [
        (r"\DosDevices\Pipes", r"\\.\Pipes"),
        (r"\DosDevices\COM10", r"\\.\COM10"),
        (r"\DosDevices\LPT0", r"\\.\LPT0"),
        (r"\DosDevices\NULL", r"\\.\NULL"),
        (r"\DosDevices\Global\Named", r"\\.\Named"),
    ] {
        let kernel = Kernel::new();
        let driver = load_with(&kernel, r"\Device\Named", link).unwrap_or_else(|s| panic!("{link}: {s:#x}"));
        kernel.open(open).unwrap_or_else(|s| panic!("{open}: {s:#x}")).close();
        driver.unload();
        kernel.assert_clean();
    }
}

/// Every name of the table, as a device and as a link, from inside a DriverEntry.
unsafe extern "C-unwind" fn probe_entry(driver: PDRIVER_OBJECT, _r: PUNICODE_STRING) -> NTSTATUS {
    let mut own_name = unicode(r"\Device\Prober");
    let mut own: PDEVICE_OBJECT = std::ptr::null_mut();
    // SAFETY: a fresh driver object and valid names.
    unsafe {
        assert_eq!(
            IoCreateDevice(driver, 0, &mut own_name, FILE_DEVICE_UNKNOWN, 0, 0, &mut own),
            STATUS_SUCCESS
        );
        for object in BOOT_NAMESPACE {
            let mut device: PDEVICE_OBJECT = std::ptr::null_mut();
            let status = IoCreateDevice(
                driver,
                0,
                &mut unicode(object.name),
                FILE_DEVICE_UNKNOWN,
                0,
                0,
                &mut device,
            );
            if status != STATUS_OBJECT_NAME_COLLISION {
                NOT_TAKEN.with(|v| {
                    v.borrow_mut()
                        .push(format!("IoCreateDevice {}: {status:#x}", object.name))
                });
            }
            let status = IoCreateSymbolicLink(&mut unicode(object.name), &mut own_name);
            if status != STATUS_OBJECT_NAME_COLLISION {
                NOT_TAKEN.with(|v| {
                    v.borrow_mut()
                        .push(format!("IoCreateSymbolicLink {}: {status:#x}", object.name))
                });
            }
        }
        IoDeleteDevice(own);
    }
    STATUS_UNSUCCESSFUL
}

#[test]
fn no_name_of_the_boot_namespace_can_be_taken() {
    let kernel = Kernel::new();
    assert_eq!(
        kernel.load("prober", probe_entry).map(|_| ()).unwrap_err(),
        STATUS_UNSUCCESSFUL
    );
    assert_eq!(NOT_TAKEN.with(|v| v.borrow().clone()), Vec::<String>::new());
    kernel.assert_clean();
}

#[test]
fn a_boot_time_link_is_kept_and_its_deletion_reported() {
    let kernel = Kernel::new();
    kernel.run(|| {
        // SAFETY: valid UNICODE_STRINGs.
        unsafe {
            assert_eq!(IoDeleteSymbolicLink(&mut unicode(r"\DosDevices\Pipe")), STATUS_SUCCESS);
        }
    });
    let reports = kernel.take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].rule, Rule::SystemNameDeleted);
    assert!(
        reports[0].message.contains(r"\Device\NamedPipe"),
        "{}",
        reports[0].message
    );
    // Still there: a driver linking it still collides.
    assert_eq!(
        load_with(&kernel, r"\Device\Named", r"\DosDevices\PIPE")
            .map(|_| ())
            .unwrap_err(),
        STATUS_OBJECT_NAME_COLLISION
    );
    kernel.assert_clean();
}

#[test]
fn what_is_not_a_link_is_not_deleted_as_one() {
    let kernel = Kernel::new();
    let driver = load_with(&kernel, r"\Device\Named", r"\DosDevices\Named").unwrap();
    kernel.run(|| {
        // SAFETY: valid UNICODE_STRINGs.
        unsafe {
            for device in [r"\Device\Null", r"\Device\Harddisk0", r"\Device\Named"] {
                assert_eq!(
                    IoDeleteSymbolicLink(&mut unicode(device)),
                    STATUS_OBJECT_TYPE_MISMATCH,
                    "{device}"
                );
            }
            assert_eq!(
                IoDeleteSymbolicLink(&mut unicode(r"\DosDevices\NoSuchLink")),
                STATUS_OBJECT_NAME_NOT_FOUND
            );
        }
    });
    driver.unload();
    kernel.assert_clean();
}

/// The boot-time names are in no driver's books: a machine that ran a driver and unloaded it
/// is as clean as a fresh one, and a fresh one is clean.
#[test]
fn the_boot_namespace_is_nobodys_leak() {
    let kernel = Kernel::new();
    kernel.assert_clean();
    let driver = load_with(&kernel, r"\Device\Named", r"\DosDevices\Named").unwrap();
    driver.unload();
    kernel.assert_clean();
    assert!(
        BOOT_NAMESPACE
            .iter()
            .any(|o| o.name == r"\GLOBAL??\PIPE" && o.kind == Kind::SymbolicLink(r"\Device\NamedPipe"))
    );
}
