//! Device interfaces (pnp-power.md §1.2, §4): a raw C-style function driver that registers an
//! interface in AddDevice, enables it in START and disables it on removal, opened from "user
//! mode" by the path the interface list gives; the statuses of IoRegisterDeviceInterface and
//! IoSetDeviceInterfaceState; and one broken variant per check.

#![allow(
    clippy::multiple_unsafe_ops_per_block,
    clippy::missing_safety_doc,
    clippy::undocumented_unsafe_blocks
)]

mod common;

use common::forward_and_wait;
use wdm_sim::{Kernel, NodeState, Rule};
use wdm_sys::ntddk::*;
use wdm_sys::*;

const CLASS: GUID = GUID {
    Data1: 0x6f1b_3a7e,
    Data2: 0x1c2d,
    Data3: 0x4e5f,
    Data4: [0x80, 0x91, 0xa2, 0xb3, 0xc4, 0xd5, 0xe6, 0xf7],
};
const CLASS_TEXT: &str = "{6f1b3a7e-1c2d-4e5f-8091-a2b3c4d5e6f7}";

const GOOD: u32 = 0;
/// Never disables its interface (neither in SURPRISE_REMOVAL nor in REMOVE).
const NEVER_DISABLES: u32 = 1;
/// Enables its interface in AddDevice, before START.
const ENABLES_IN_ADD_DEVICE: u32 = 2;
/// Never frees the name IoRegisterDeviceInterface returned.
const LEAKS_NAME: u32 = 3;
/// Names its FDO `\Device\IfTestFdo` (legal, if unusual, for a WDM driver).
const NAMED_FDO: u32 = 4;

#[repr(C)]
struct Ext {
    lower: PDEVICE_OBJECT,
    link: UNICODE_STRING,
    /// The FileName of the last create, and its length in UTF-16 units.
    file_name: [u16; 64],
    file_name_len: usize,
    creates: u32,
    /// What IoSetDeviceInterfaceState(TRUE) returned in each START.
    enables: Vec<NTSTATUS>,
}

unsafe fn ext(device: PDEVICE_OBJECT) -> *mut Ext {
    unsafe { (*device).DeviceExtension.cast() }
}

unsafe fn complete(irp: PIRP, status: NTSTATUS) -> NTSTATUS {
    unsafe {
        (*irp).IoStatus.__bindgen_anon_1.Status = status;
        (*irp).IoStatus.Information = 0;
        IoCompleteRequest(irp, IO_NO_INCREMENT as i8);
    }
    status
}

unsafe extern "C-unwind" fn add_device<const M: u32>(driver: PDRIVER_OBJECT, pdo: PDEVICE_OBJECT) -> NTSTATUS {
    unsafe {
        let mut fdo: PDEVICE_OBJECT = std::ptr::null_mut();
        let (_keep, mut name) = unicode(r"\Device\IfTestFdo");
        let status = IoCreateDevice(
            driver,
            size_of::<Ext>() as u32,
            if M == NAMED_FDO {
                &mut name
            } else {
                std::ptr::null_mut()
            },
            FILE_DEVICE_UNKNOWN,
            FILE_DEVICE_SECURE_OPEN,
            0,
            &mut fdo,
        );
        if !NT_SUCCESS(status) {
            return status;
        }
        let e = ext(fdo);
        (&raw mut (*e).enables).write(Vec::new());
        let status = IoRegisterDeviceInterface(pdo, &CLASS, std::ptr::null_mut(), &mut (*e).link);
        if !NT_SUCCESS(status) {
            IoDeleteDevice(fdo);
            return status;
        }
        if M == ENABLES_IN_ADD_DEVICE {
            let _ = IoSetDeviceInterfaceState(&mut (*e).link, 1);
        }
        (*e).lower = IoAttachDeviceToDeviceStack(fdo, pdo);
        (*fdo).Flags |= DO_BUFFERED_IO;
        (*fdo).Flags &= !DO_DEVICE_INITIALIZING;
    }
    STATUS_SUCCESS
}

unsafe extern "C-unwind" fn dispatch_pnp<const M: u32>(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    unsafe {
        let e = ext(device);
        let lower = (*e).lower;
        let minor = u32::from((*IoGetCurrentIrpStackLocation(irp)).MinorFunction);
        match minor {
            IRP_MN_START_DEVICE => {
                let status = forward_and_wait(lower, irp);
                if NT_SUCCESS(status) && M != ENABLES_IN_ADD_DEVICE {
                    // Enabled after the lower drivers started the device, before START
                    // completes; after a rebalance it is still enabled (OBJECT_NAME_EXISTS).
                    let status = IoSetDeviceInterfaceState(&mut (*e).link, 1);
                    (*e).enables.push(status);
                }
                complete(irp, status)
            }
            IRP_MN_QUERY_REMOVE_DEVICE
            | IRP_MN_CANCEL_REMOVE_DEVICE
            | IRP_MN_SURPRISE_REMOVAL
            | IRP_MN_QUERY_STOP_DEVICE
            | IRP_MN_CANCEL_STOP_DEVICE
            | IRP_MN_STOP_DEVICE => {
                if minor == IRP_MN_SURPRISE_REMOVAL && M != NEVER_DISABLES {
                    assert_eq!(IoSetDeviceInterfaceState(&mut (*e).link, 0), STATUS_SUCCESS);
                }
                (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
                IoSkipCurrentIrpStackLocation(irp);
                IoCallDriver(lower, irp)
            }
            IRP_MN_REMOVE_DEVICE => {
                if M != NEVER_DISABLES {
                    // Disabled here unless SURPRISE_REMOVAL did it already.
                    let _ = IoSetDeviceInterfaceState(&mut (*e).link, 0);
                }
                (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
                IoSkipCurrentIrpStackLocation(irp);
                let status = IoCallDriver(lower, irp);
                if M != LEAKS_NAME {
                    RtlFreeUnicodeString(&mut (*e).link);
                }
                drop((&raw mut (*e).enables).read());
                IoDetachDevice(lower);
                IoDeleteDevice(device);
                status
            }
            _ => {
                IoSkipCurrentIrpStackLocation(irp);
                IoCallDriver(lower, irp)
            }
        }
    }
}

/// Create records the FileName (the reference string); close and cleanup succeed.
unsafe extern "C-unwind" fn dispatch_io(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    unsafe {
        let e = ext(device);
        let stack = &*IoGetCurrentIrpStackLocation(irp);
        if u32::from(stack.MajorFunction) == IRP_MJ_CREATE {
            (*e).creates += 1;
            let name = (*stack.FileObject).FileName;
            let n = (usize::from(name.Length) / 2).min(64);
            if n > 0 {
                std::ptr::copy_nonoverlapping(name.Buffer, (*e).file_name.as_mut_ptr(), n);
            }
            (*e).file_name_len = n;
        }
        complete(irp, STATUS_SUCCESS)
    }
}

unsafe extern "C-unwind" fn unload(_driver: PDRIVER_OBJECT) {}

unsafe extern "C-unwind" fn entry<const M: u32>(driver: PDRIVER_OBJECT, _path: PUNICODE_STRING) -> NTSTATUS {
    unsafe {
        (*(*driver).DriverExtension).AddDevice = Some(add_device::<M>);
        (*driver).MajorFunction[IRP_MJ_PNP as usize] = Some(dispatch_pnp::<M>);
        for m in [IRP_MJ_CREATE, IRP_MJ_CLOSE, IRP_MJ_CLEANUP] {
            (*driver).MajorFunction[m as usize] = Some(dispatch_io);
        }
        (*driver).DriverUnload = Some(unload);
    }
    STATUS_SUCCESS
}

fn rules(kernel: &Kernel) -> Vec<Rule> {
    kernel.take_reports().iter().map(|r| r.rule).collect()
}

fn unicode(s: &str) -> (Vec<u16>, UNICODE_STRING) {
    let mut v: Vec<u16> = s.encode_utf16().collect();
    let len = (v.len() * 2) as u16;
    v.push(0);
    let u = UNICODE_STRING {
        Length: len,
        MaximumLength: len + 2,
        Buffer: v.as_mut_ptr(),
    };
    (v, u)
}

fn text(u: &UNICODE_STRING) -> String {
    let units = unsafe { std::slice::from_raw_parts(u.Buffer, usize::from(u.Length) / 2) };
    String::from_utf16_lossy(units)
}

#[test]
fn an_interface_is_enabled_in_start_opened_by_its_path_and_gone_after_remove() {
    let kernel = Kernel::new();
    let driver = kernel.load("iftest", entry::<GOOD>).unwrap();
    let node = kernel.add_root_device(r"ROOT\IfTest");
    assert_eq!(node.instance_path(), r"ROOT\IFTEST\0000");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    let fdo = node.stack()[0];
    let link = text(unsafe { &(*ext(fdo)).link });
    assert_eq!(link, format!(r"\??\ROOT#IFTEST#0000#{CLASS_TEXT}"));
    // Registered, not enabled: not listed, not openable.
    assert!(kernel.device_interfaces(&CLASS).is_empty());
    let path = format!(r"\\?\ROOT#IFTEST#0000#{CLASS_TEXT}");
    assert_eq!(kernel.open(&path).err(), Some(STATUS_OBJECT_NAME_NOT_FOUND));

    assert_eq!(node.start(), STATUS_SUCCESS);
    assert_eq!(kernel.device_interfaces(&CLASS), std::slice::from_ref(&path));
    let file = kernel.open(&path).unwrap();
    assert_eq!(
        unsafe { (*ext(fdo)).creates },
        1,
        "the create went to the top of the stack"
    );
    // The open counts as a handle on the stack: it vetoes the removal.
    assert_eq!(node.query_remove_and_remove(), Err(STATUS_DEVICE_BUSY));
    file.close();
    // Case-insensitive, and through \??\ as well.
    kernel.open(&path.to_lowercase()).unwrap().close();
    kernel
        .open(&format!(r"\??\ROOT#IFTEST#0000#{CLASS_TEXT}"))
        .unwrap()
        .close();

    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    assert!(kernel.device_interfaces(&CLASS).is_empty());
    assert_eq!(kernel.open(&path).err(), Some(STATUS_OBJECT_NAME_NOT_FOUND));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn root_pdos_have_autogenerated_names_and_creates_before_start_fail() {
    let kernel = Kernel::new();
    let driver = kernel.load("iftest", entry::<GOOD>).unwrap();
    let first = kernel.add_root_device(r"ROOT\IFTEST");
    let second = kernel.add_root_device(r"ROOT\IFTEST");
    assert_eq!(second.instance_path(), r"ROOT\IFTEST\0001");
    assert_eq!(first.add_driver(&driver), STATUS_SUCCESS);
    // The PDO's name opens the stack, and only once START has completed.
    assert_eq!(kernel.open(r"\Device\00000001").err(), Some(STATUS_NO_SUCH_DEVICE));
    assert_eq!(first.start(), STATUS_SUCCESS);
    let fdo = first.stack()[0];
    kernel.open(r"\Device\00000001").unwrap().close();
    assert_eq!(unsafe { (*ext(fdo)).creates }, 1);
    // The second devnode's PDO is \Device\00000002: nothing on it is started.
    assert_eq!(kernel.open(r"\Device\00000002").err(), Some(STATUS_NO_SUCH_DEVICE));
    assert_eq!(
        kernel.open(r"\Device\00000003").err(),
        Some(STATUS_OBJECT_NAME_NOT_FOUND)
    );
    assert_eq!(first.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    assert_eq!(kernel.open(r"\Device\00000001").err(), Some(STATUS_NO_SUCH_DEVICE));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn register_and_set_state_return_the_documented_statuses() {
    let kernel = Kernel::new();
    let driver = kernel.load("iftest", entry::<GOOD>).unwrap();
    let node = kernel.add_root_device(r"ROOT\IFTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    let pdo = node.pdo() as usize;
    let fdo = node.stack()[0] as usize;
    kernel.run(|| unsafe {
        let mut again = UNICODE_STRING::default();
        // The same interface again: the same name, STATUS_OBJECT_NAME_EXISTS.
        assert_eq!(
            IoRegisterDeviceInterface(pdo as _, &CLASS, std::ptr::null_mut(), &mut again),
            STATUS_OBJECT_NAME_EXISTS
        );
        assert_eq!(text(&again), text(&(*ext(fdo as _)).link));
        // Enabling an enabled interface; disabling twice.
        assert_eq!(IoSetDeviceInterfaceState(&mut again, 1), STATUS_OBJECT_NAME_EXISTS);
        assert_eq!(IoSetDeviceInterfaceState(&mut again, 0), STATUS_SUCCESS);
        assert_eq!(IoSetDeviceInterfaceState(&mut again, 0), STATUS_OBJECT_NAME_NOT_FOUND);
        assert_eq!(IoSetDeviceInterfaceState(&mut again, 1), STATUS_SUCCESS);
        RtlFreeUnicodeString(&mut again);
        assert!(again.Buffer.is_null());
        // Only a PDO; no path separator in the reference string.
        let mut out = UNICODE_STRING::default();
        assert_eq!(
            IoRegisterDeviceInterface(fdo as _, &CLASS, std::ptr::null_mut(), &mut out),
            STATUS_INVALID_DEVICE_REQUEST
        );
        let (_keep, mut bad) = unicode(r"a\b");
        assert_eq!(
            IoRegisterDeviceInterface(pdo as _, &CLASS, &mut bad, &mut out),
            STATUS_INVALID_DEVICE_REQUEST
        );
        // A name never registered.
        let (_keep, mut unknown) = unicode(r"\??\ROOT#NOTHING#0000#{00000000-0000-0000-0000-000000000000}");
        assert_eq!(IoSetDeviceInterfaceState(&mut unknown, 1), STATUS_OBJECT_NAME_NOT_FOUND);
    });
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_reference_string_is_the_file_name_of_the_create() {
    let kernel = Kernel::new();
    let driver = kernel.load("iftest", entry::<GOOD>).unwrap();
    let node = kernel.add_root_device(r"ROOT\IFTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    let pdo = node.pdo() as usize;
    let fdo = node.stack()[0];
    let mut name = kernel.run(|| unsafe {
        let (_keep, mut reference) = unicode("Second");
        let mut name = UNICODE_STRING::default();
        assert_eq!(
            IoRegisterDeviceInterface(pdo as _, &CLASS, &mut reference, &mut name),
            STATUS_SUCCESS
        );
        assert_eq!(IoSetDeviceInterfaceState(&mut name, 1), STATUS_SUCCESS);
        name
    });
    assert_eq!(text(&name), format!(r"\??\ROOT#IFTEST#0000#{CLASS_TEXT}\Second"));
    let paths = kernel.device_interfaces(&CLASS);
    assert_eq!(paths.len(), 2);
    assert_eq!(paths[1], format!(r"\\?\ROOT#IFTEST#0000#{CLASS_TEXT}\Second"));
    let file_name = || unsafe {
        let e = ext(fdo);
        let units = &(*e).file_name;
        String::from_utf16_lossy(&units[..(*e).file_name_len])
    };
    kernel.open(&paths[1]).unwrap().close();
    assert_eq!(file_name(), r"\Second");
    kernel.open(&paths[0]).unwrap().close();
    assert_eq!(file_name(), "");
    kernel.run(|| unsafe {
        assert_eq!(IoSetDeviceInterfaceState(&mut name, 0), STATUS_SUCCESS);
        RtlFreeUnicodeString(&mut name);
    });
    assert_eq!(kernel.device_interfaces(&CLASS), paths[..1]);
    // The link is the part before the reference string, and the instance without one still
    // enables it: the path opens, with the rest as FileName, as on Windows.
    kernel.open(&paths[1]).unwrap().close();
    assert_eq!(file_name(), r"\Second");
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    assert_eq!(kernel.open(&paths[1]).err(), Some(STATUS_OBJECT_NAME_NOT_FOUND));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn surprise_removal_disables_the_interface_and_a_held_handle_delays_remove() {
    let kernel = Kernel::new();
    let driver = kernel.load("iftest", entry::<GOOD>).unwrap();
    let node = kernel.add_root_device(r"ROOT\IFTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    let path = kernel.device_interfaces(&CLASS).remove(0);
    let file = kernel.open(&path).unwrap();
    assert_eq!(node.surprise_remove(), STATUS_SUCCESS);
    assert!(kernel.device_interfaces(&CLASS).is_empty());
    assert_eq!(kernel.open(&path).err(), Some(STATUS_OBJECT_NAME_NOT_FOUND));
    assert_eq!(node.state(), NodeState::SurpriseRemoved);
    file.close();
    assert_eq!(node.state(), NodeState::Deleted);
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn an_interface_left_enabled_after_remove_is_reported_and_disabled() {
    let kernel = Kernel::new();
    let driver = kernel.load("iftest", entry::<NEVER_DISABLES>).unwrap();
    let node = kernel.add_root_device(r"ROOT\IFTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    assert_eq!(rules(&kernel), [Rule::PnpInterfaceEnabledAfterRemove]);
    assert!(kernel.device_interfaces(&CLASS).is_empty(), "the manager disabled it");
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn enabling_an_interface_before_start_is_reported() {
    let kernel = Kernel::new();
    let driver = kernel.load("iftest", entry::<ENABLES_IN_ADD_DEVICE>).unwrap();
    let node = kernel.add_root_device(r"ROOT\IFTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(rules(&kernel), [Rule::PnpInterfaceEnabledNotStarted]);
    // Listed, but the PnP manager still fails the create until START completes.
    let path = kernel.device_interfaces(&CLASS).remove(0);
    assert_eq!(kernel.open(&path).err(), Some(STATUS_NO_SUCH_DEVICE));
    assert_eq!(node.start(), STATUS_SUCCESS);
    kernel.open(&path).unwrap().close();
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_symbolic_link_name_never_freed_is_a_pool_leak() {
    let kernel = Kernel::new();
    let driver = kernel.load("iftest", entry::<LEAKS_NAME>).unwrap();
    let node = kernel.add_root_device(r"ROOT\IFTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    let pool = kernel.pool();
    assert_eq!(pool.len(), 1);
    assert_eq!(pool[0].tag, "UStr");
    driver.unload();
    let reports = kernel.take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].rule, Rule::PoolLeak);
    assert!(reports[0].message.contains("'UStr'"), "{}", reports[0].message);
}

#[test]
fn interfaces_stay_enabled_across_a_rebalance() {
    let kernel = Kernel::new();
    let driver = kernel.load("iftest", entry::<GOOD>).unwrap();
    let node = kernel.add_root_device(r"ROOT\IFTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    let fdo = node.stack()[0];
    let paths = kernel.device_interfaces(&CLASS);
    assert_eq!(node.query_stop_and_stop(), Ok(STATUS_SUCCESS));
    assert_eq!(kernel.device_interfaces(&CLASS), paths, "still enabled while stopped");
    kernel.open(&paths[0]).unwrap().close();
    assert_eq!(node.restart(), STATUS_SUCCESS);
    assert_eq!(kernel.device_interfaces(&CLASS), paths);
    let enables = unsafe { (*ext(fdo)).enables.clone() };
    assert_eq!(enables, [STATUS_SUCCESS, STATUS_OBJECT_NAME_EXISTS]);
    assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_named_fdo_opens_through_its_devnode() {
    let kernel = Kernel::new();
    let driver = kernel.load("iftest", entry::<NAMED_FDO>).unwrap();
    let node = kernel.add_root_device(r"ROOT\IFTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    // Before START the PnP manager fails the create, whichever device of the stack it names.
    assert_eq!(kernel.open(r"\Device\IfTestFdo").err(), Some(STATUS_NO_SUCH_DEVICE));
    assert_eq!(node.start(), STATUS_SUCCESS);
    let file = kernel.open(r"\Device\IfTestFdo").unwrap();
    // It counts as a handle on the stack.
    assert_eq!(node.query_remove_and_remove(), Err(STATUS_DEVICE_BUSY));
    file.close();
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}
