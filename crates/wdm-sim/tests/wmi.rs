//! WMI (pnp-power.md §7): a raw C-style function driver that registers its FDO with
//! IoWMIRegistrationControl, answers the IRP_MJ_SYSTEM_CONTROL IRPs whose ProviderId is its FDO
//! and passes the others down untouched; the root PDO completes those untouched. One broken
//! variant per check.

#![allow(
    clippy::multiple_unsafe_ops_per_block,
    clippy::missing_safety_doc,
    clippy::undocumented_unsafe_blocks
)]

mod common;

use common::answer as complete;
use wdm_sim::{Kernel, Rule, StopCode};
use wdm_sys::ntddk::*;
use wdm_sys::*;

const GOOD: u32 = 0;
/// Completes the WMI IRPs of other providers (with WMI_GUID_NOT_FOUND) instead of forwarding.
const COMPLETES_OTHERS: u32 = 1;
/// Sets STATUS_SUCCESS on the WMI IRPs of other providers, then forwards them.
const TOUCHES_OTHERS: u32 = 2;
/// Never registers with WMI, but completes the IRPs addressed to its FDO.
const NOT_REGISTERED: u32 = 3;
/// Deletes its FDO on REMOVE without deregistering it first.
const DELETES_REGISTERED: u32 = 4;
/// On REMOVE detaches but neither deregisters nor deletes its FDO.
const KEEPS_REGISTERED: u32 = 5;

const MN_QUERY_ALL_DATA: u8 = IRP_MN_QUERY_ALL_DATA as u8;
const MN_REGINFO_EX: u8 = IRP_MN_REGINFO_EX as u8;

#[repr(C)]
struct Ext {
    lower: PDEVICE_OBJECT,
}

unsafe fn ext(device: PDEVICE_OBJECT) -> *mut Ext {
    unsafe { (*device).DeviceExtension.cast() }
}

unsafe extern "C-unwind" fn add_device<const M: u32>(driver: PDRIVER_OBJECT, pdo: PDEVICE_OBJECT) -> NTSTATUS {
    unsafe {
        let mut fdo: PDEVICE_OBJECT = std::ptr::null_mut();
        let status = IoCreateDevice(
            driver,
            size_of::<Ext>() as u32,
            std::ptr::null_mut(),
            FILE_DEVICE_UNKNOWN,
            FILE_DEVICE_SECURE_OPEN,
            0,
            &mut fdo,
        );
        if !NT_SUCCESS(status) {
            return status;
        }
        (*ext(fdo)).lower = IoAttachDeviceToDeviceStack(fdo, pdo);
        if M != NOT_REGISTERED {
            assert_eq!(IoWMIRegistrationControl(fdo, WMIREG_ACTION_REGISTER), STATUS_SUCCESS);
        }
        (*fdo).Flags &= !DO_DEVICE_INITIALIZING;
    }
    STATUS_SUCCESS
}

unsafe extern "C-unwind" fn dispatch_pnp<const M: u32>(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    unsafe {
        let lower = (*ext(device)).lower;
        let minor = u32::from((*IoGetCurrentIrpStackLocation(irp)).MinorFunction);
        if matches!(
            minor,
            IRP_MN_START_DEVICE | IRP_MN_QUERY_REMOVE_DEVICE | IRP_MN_REMOVE_DEVICE
        ) {
            (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
        }
        IoSkipCurrentIrpStackLocation(irp);
        let status = IoCallDriver(lower, irp);
        if minor == IRP_MN_REMOVE_DEVICE {
            if M != DELETES_REGISTERED && M != KEEPS_REGISTERED && M != NOT_REGISTERED {
                assert_eq!(
                    IoWMIRegistrationControl(device, WMIREG_ACTION_DEREGISTER),
                    STATUS_SUCCESS
                );
            }
            IoDetachDevice(lower);
            if M != KEEPS_REGISTERED {
                IoDeleteDevice(device);
            }
        }
        status
    }
}

/// DispatchSystemControl (§7): the IRPs for this FDO are handled (8 bytes of data); the others
/// go down unchanged.
unsafe extern "C-unwind" fn dispatch_wmi<const M: u32>(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    unsafe {
        let stack = &*IoGetCurrentIrpStackLocation(irp);
        if stack.Parameters.WMI.ProviderId as usize == device as usize {
            return complete(irp, STATUS_SUCCESS, 8);
        }
        if M == COMPLETES_OTHERS {
            return complete(irp, STATUS_WMI_GUID_NOT_FOUND, 0);
        }
        if M == TOUCHES_OTHERS {
            (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
        }
        IoSkipCurrentIrpStackLocation(irp);
        IoCallDriver((*ext(device)).lower, irp)
    }
}

unsafe extern "C-unwind" fn unload(_driver: PDRIVER_OBJECT) {}

unsafe extern "C-unwind" fn entry<const M: u32>(driver: PDRIVER_OBJECT, _path: PUNICODE_STRING) -> NTSTATUS {
    unsafe {
        (*(*driver).DriverExtension).AddDevice = Some(add_device::<M>);
        (*driver).MajorFunction[IRP_MJ_PNP as usize] = Some(dispatch_pnp::<M>);
        (*driver).MajorFunction[IRP_MJ_SYSTEM_CONTROL as usize] = Some(dispatch_wmi::<M>);
        (*driver).DriverUnload = Some(unload);
    }
    STATUS_SUCCESS
}

fn rules(kernel: &Kernel) -> Vec<Rule> {
    kernel.take_reports().iter().map(|r| r.rule).collect()
}

/// A started devnode with the fixture variant `M` on it, and its FDO.
macro_rules! started {
    ($kernel:ident, $driver:ident, $node:ident, $fdo:ident, $m:expr) => {
        let $kernel = Kernel::new();
        let $driver = $kernel.load("wmitest", entry::<{ $m }>).unwrap();
        let $node = $kernel.add_root_device(r"ROOT\WMITEST");
        assert_eq!($node.add_driver(&$driver), STATUS_SUCCESS);
        assert_eq!($node.start(), STATUS_SUCCESS);
        let $fdo = $node.stack()[0];
    };
}

/// Some other provider's device (an address no device of this stack has).
fn other_provider(kernel: &Kernel) -> (wdm_sim::Driver<'_>, PDEVICE_OBJECT) {
    unsafe extern "C-unwind" fn other_entry(driver: PDRIVER_OBJECT, _path: PUNICODE_STRING) -> NTSTATUS {
        unsafe {
            let mut device = std::ptr::null_mut();
            let status = IoCreateDevice(driver, 0, std::ptr::null_mut(), FILE_DEVICE_UNKNOWN, 0, 0, &mut device);
            (*driver).DriverUnload = Some(other_unload);
            status
        }
    }
    unsafe extern "C-unwind" fn other_unload(driver: PDRIVER_OBJECT) {
        unsafe { IoDeleteDevice((*driver).DeviceObject) };
    }
    let driver = kernel.load("other", other_entry).unwrap();
    let device = unsafe { (*driver.object()).DeviceObject };
    (driver, device)
}

#[test]
fn the_provider_answers_its_own_irps_and_forwards_the_others_untouched() {
    started!(kernel, driver, node, fdo, GOOD);
    assert!(kernel.wmi_registered(fdo));
    let own = node.system_control(MN_QUERY_ALL_DATA, fdo);
    assert_eq!((own.status, own.information), (STATUS_SUCCESS, 8));
    let (other, device) = other_provider(&kernel);
    // Another provider's IRP reaches the PDO, which completes it untouched.
    let theirs = node.system_control(MN_QUERY_ALL_DATA, device);
    assert_eq!((theirs.status, theirs.information), (STATUS_NOT_SUPPORTED, 0));
    let reginfo = node.system_control(MN_REGINFO_EX, fdo);
    assert_eq!(reginfo.status, STATUS_SUCCESS);
    assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());

    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    assert!(!kernel.wmi_registered(fdo));
    other.unload();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn registration_control_statuses() {
    started!(kernel, driver, node, fdo, GOOD);
    let fdo = fdo as usize;
    kernel.run(|| unsafe {
        let fdo = fdo as PDEVICE_OBJECT;
        assert_eq!(
            IoWMIRegistrationControl(fdo, WMIREG_ACTION_REGISTER),
            STATUS_OBJECT_NAME_EXISTS
        );
        assert_eq!(
            IoWMIRegistrationControl(fdo, WMIREG_ACTION_UPDATE_GUIDS),
            STATUS_SUCCESS
        );
        assert_eq!(IoWMIRegistrationControl(fdo, WMIREG_ACTION_DEREGISTER), STATUS_SUCCESS);
        assert_eq!(
            IoWMIRegistrationControl(fdo, WMIREG_ACTION_DEREGISTER),
            STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            IoWMIRegistrationControl(fdo, WMIREG_ACTION_REREGISTER),
            STATUS_INVALID_PARAMETER
        );
        assert_eq!(IoWMIRegistrationControl(fdo, WMIREG_ACTION_REGISTER), STATUS_SUCCESS);
        assert_eq!(
            IoWMIRegistrationControl(0x1230 as PDEVICE_OBJECT, WMIREG_ACTION_REGISTER),
            STATUS_INVALID_PARAMETER
        );
    });
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn completing_another_providers_irp_is_0xc9_0x220() {
    started!(kernel, driver, node, _fdo, COMPLETES_OTHERS);
    let (other, device) = other_provider(&kernel);
    let c = node.system_control(MN_QUERY_ALL_DATA, device);
    assert_eq!(c.status, STATUS_WMI_GUID_NOT_FOUND);
    let reports = kernel.take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].rule, Rule::WmiCompletedByOther);
    assert_eq!(reports[0].rule.stop_code(), StopCode::sub(0xC9, 0x220));
    assert_eq!(reports[0].rule.sdv_rule(), Some("WmiForward"));
    assert_eq!(reports[0].parameters[2], device as usize);
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    other.unload();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn changing_iostatus_of_another_providers_irp_is_0xc9_0x210() {
    started!(kernel, driver, node, _fdo, TOUCHES_OTHERS);
    let (other, device) = other_provider(&kernel);
    assert_eq!(node.system_control(MN_QUERY_ALL_DATA, device).status, STATUS_SUCCESS);
    assert_eq!(rules(&kernel), [Rule::WmiStatusChanged]);
    assert_eq!(Rule::WmiStatusChanged.stop_code(), StopCode::sub(0xC9, 0x210));
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    other.unload();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn completing_wmi_irps_without_registering_is_wmi_forward() {
    started!(kernel, driver, node, fdo, NOT_REGISTERED);
    assert!(!kernel.wmi_registered(fdo));
    assert_eq!(node.system_control(MN_QUERY_ALL_DATA, fdo).status, STATUS_SUCCESS);
    let reports = kernel.take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].rule, Rule::WmiCompletedUnregistered);
    assert_eq!(reports[0].rule.sdv_rule(), Some("WmiForward"));
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn deleting_a_registered_device_is_0xc4_0xdb() {
    started!(kernel, _driver, node, fdo, DELETES_REGISTERED);
    let bug = kernel.catch(|| node.query_remove_and_remove()).unwrap_err().0;
    assert_eq!(bug.rule, Rule::WmiRegisteredAtDelete);
    assert_eq!(bug.rule.stop_code(), StopCode::sub(0xC4, 0xDB));
    assert_eq!(bug.parameters[1], fdo as usize);
}

#[test]
fn unloading_with_a_registered_device_is_0xc4_0xda() {
    started!(kernel, driver, node, fdo, KEEPS_REGISTERED);
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    assert_eq!(rules(&kernel), [Rule::PnpRemoveNotDeleted]);
    let bug = kernel.catch(|| driver.unload()).unwrap_err().0;
    assert_eq!(bug.rule, Rule::WmiRegisteredAtUnload);
    assert_eq!(bug.rule.stop_code(), StopCode::sub(0xC4, 0xDA));
    assert_eq!(bug.parameters[2], fdo as usize);
}
