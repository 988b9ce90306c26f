//! The PnP manager's core (pnp-power.md §1, §2.1, §2.3, §2.4, §2.9): a raw C-style function
//! driver on a root-enumerated PDO: AddDevice, START by forward-and-wait, I/O, orderly and
//! surprise removal with the remove lock, and one broken variant per check.

#![allow(
    clippy::multiple_unsafe_ops_per_block,
    clippy::missing_safety_doc,
    clippy::undocumented_unsafe_blocks
)]
// The fixture is a C driver written in Rust: raw calls throughout.

mod common;

use common::{answer as complete, forward_and_wait};
use wdm_sim::{Kernel, NodeState, Rule, StopCode};
use wdm_sys::ntddk::*;
use wdm_sys::*;

/// What the fixture does wrong (a const parameter: tests run in parallel, each with its own).
const GOOD: u32 = 0;
/// AddDevice leaves DO_DEVICE_INITIALIZING set.
const LEAVES_INITIALIZING: u32 = 1;
/// Completes the PnP IRPs it does not handle instead of passing them down.
const COMPLETES_UNHANDLED: u32 = 2;
/// Sets STATUS_SUCCESS on the PnP IRPs it does not handle, and passes them down.
const TOUCHES_UNHANDLED: u32 = 3;
/// Fails IRP_MN_REMOVE_DEVICE.
const FAILS_REMOVE: u32 = 4;
/// Neither detaches nor deletes on REMOVE.
const KEEPS_DEVICE: u32 = 5;
/// Detaches and deletes on SURPRISE_REMOVAL.
const DELETES_ON_SURPRISE: u32 = 6;
/// Fails SURPRISE_REMOVAL.
const FAILS_SURPRISE: u32 = 7;
/// Fails QUERY_REMOVE (a legal veto).
const VETOES_QUERY_REMOVE: u32 = 8;
/// Fails START after the lower drivers succeeded it (legal: REMOVE follows).
const FAILS_START: u32 = 9;

/// Passes QUERY_REMOVE down without setting STATUS_SUCCESS.
const QUERY_REMOVE_UNTOUCHED: u32 = 10;

#[repr(C)]
struct Ext {
    lower: PDEVICE_OBJECT,
    pdo: PDEVICE_OBJECT,
    lock: IO_REMOVE_LOCK,
    removed: bool,
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
        let e = ext(fdo);
        (*e).pdo = pdo;
        (*e).removed = false;
        IoInitializeRemoveLock(&mut (*e).lock, u32::from_le_bytes(*b"PnpT"), 0, 0);
        (*e).lower = IoAttachDeviceToDeviceStack(fdo, pdo);
        if (*e).lower.is_null() {
            IoDeleteDevice(fdo);
            return STATUS_NO_SUCH_DEVICE;
        }
        (*fdo).Flags |= DO_BUFFERED_IO;
        if M != LEAVES_INITIALIZING {
            (*fdo).Flags &= !DO_DEVICE_INITIALIZING;
        }
    }
    STATUS_SUCCESS
}

unsafe extern "C-unwind" fn dispatch_pnp<const M: u32>(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    unsafe {
        let e = ext(device);
        let tag = irp as PVOID;
        let status = IoAcquireRemoveLock(&mut (*e).lock, tag);
        if !NT_SUCCESS(status) {
            return complete(irp, status, 0);
        }
        let lower = (*e).lower;
        let minor = u32::from((*IoGetCurrentIrpStackLocation(irp)).MinorFunction);
        let pass_down = |irp: PIRP| {
            IoSkipCurrentIrpStackLocation(irp);
            IoCallDriver(lower, irp)
        };
        match minor {
            IRP_MN_START_DEVICE => {
                let mut status = forward_and_wait(lower, irp);
                if NT_SUCCESS(status) && M == FAILS_START {
                    status = STATUS_UNSUCCESSFUL;
                }
                complete(irp, status, 0);
                IoReleaseRemoveLock(&mut (*e).lock, tag);
                status
            }
            IRP_MN_QUERY_REMOVE_DEVICE if M == VETOES_QUERY_REMOVE => {
                let status = complete(irp, STATUS_UNSUCCESSFUL, 0);
                IoReleaseRemoveLock(&mut (*e).lock, tag);
                status
            }
            IRP_MN_SURPRISE_REMOVAL if M == FAILS_SURPRISE => {
                let status = complete(irp, STATUS_UNSUCCESSFUL, 0);
                IoReleaseRemoveLock(&mut (*e).lock, tag);
                status
            }
            IRP_MN_QUERY_REMOVE_DEVICE | IRP_MN_CANCEL_REMOVE_DEVICE | IRP_MN_SURPRISE_REMOVAL => {
                if minor == IRP_MN_SURPRISE_REMOVAL {
                    (*e).removed = true; // fail new I/O from now on
                }
                if !(M == QUERY_REMOVE_UNTOUCHED && minor == IRP_MN_QUERY_REMOVE_DEVICE) {
                    (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
                }
                let status = pass_down(irp);
                IoReleaseRemoveLock(&mut (*e).lock, tag);
                if minor == IRP_MN_SURPRISE_REMOVAL && M == DELETES_ON_SURPRISE {
                    IoDetachDevice(lower);
                    IoDeleteDevice(device);
                }
                status
            }
            IRP_MN_REMOVE_DEVICE => {
                if M == FAILS_REMOVE {
                    let status = complete(irp, STATUS_UNSUCCESSFUL, 0);
                    IoReleaseRemoveLock(&mut (*e).lock, tag);
                    return status;
                }
                (*e).removed = true;
                (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
                let status = pass_down(irp);
                // The REMOVE order (§5.3): acquire, forward, release-and-wait, detach, delete.
                IoReleaseRemoveLockAndWait(&mut (*e).lock, tag);
                if M != KEEPS_DEVICE && !(*e).lower.is_null() {
                    IoDetachDevice(lower);
                    IoDeleteDevice(device);
                }
                status
            }
            _ => {
                if M == COMPLETES_UNHANDLED {
                    let status = (*irp).IoStatus.__bindgen_anon_1.Status;
                    IoCompleteRequest(irp, IO_NO_INCREMENT as i8);
                    IoReleaseRemoveLock(&mut (*e).lock, tag);
                    return status;
                }
                if M == TOUCHES_UNHANDLED {
                    (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
                }
                let status = pass_down(irp);
                IoReleaseRemoveLock(&mut (*e).lock, tag);
                status
            }
        }
    }
}

/// Create, close, cleanup and read: under the remove lock; a read fills the buffer with 'p'.
unsafe extern "C-unwind" fn dispatch_io(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    unsafe {
        let e = ext(device);
        let tag = irp as PVOID;
        let status = IoAcquireRemoveLock(&mut (*e).lock, tag);
        if !NT_SUCCESS(status) {
            return complete(irp, status, 0);
        }
        let stack = &*IoGetCurrentIrpStackLocation(irp);
        let major = u32::from(stack.MajorFunction);
        let status = if (*e).removed && major != IRP_MJ_CLOSE && major != IRP_MJ_CLEANUP {
            complete(irp, STATUS_NO_SUCH_DEVICE, 0)
        } else if major == IRP_MJ_READ {
            let n = stack.Parameters.Read.Length as usize;
            std::slice::from_raw_parts_mut((*irp).AssociatedIrp.SystemBuffer.cast::<u8>(), n).fill(b'p');
            complete(irp, STATUS_SUCCESS, n as u64)
        } else {
            complete(irp, STATUS_SUCCESS, 0)
        };
        IoReleaseRemoveLock(&mut (*e).lock, tag);
        status
    }
}

unsafe extern "C-unwind" fn unload(_driver: PDRIVER_OBJECT) {}

unsafe extern "C-unwind" fn entry<const M: u32>(driver: PDRIVER_OBJECT, _path: PUNICODE_STRING) -> NTSTATUS {
    unsafe {
        (*(*driver).DriverExtension).AddDevice = Some(add_device::<M>);
        (*driver).MajorFunction[IRP_MJ_PNP as usize] = Some(dispatch_pnp::<M>);
        for m in [IRP_MJ_CREATE, IRP_MJ_CLOSE, IRP_MJ_CLEANUP, IRP_MJ_READ] {
            (*driver).MajorFunction[m as usize] = Some(dispatch_io);
        }
        (*driver).DriverUnload = Some(unload);
    }
    STATUS_SUCCESS
}

/// The rules reported, in order.
fn rules(kernel: &Kernel) -> Vec<Rule> {
    kernel.take_reports().iter().map(|r| r.rule).collect()
}

#[test]
fn add_device_start_io_and_orderly_removal_leave_nothing() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnptest", entry::<GOOD>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPTEST");
    assert_eq!(node.hardware_id(), r"ROOT\PNPTEST");
    assert_eq!(
        kernel.open_device(&node).err(),
        Some(STATUS_NO_SUCH_DEVICE),
        "nothing to open yet"
    );
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    let stack = node.stack();
    assert_eq!(stack.len(), 1);
    unsafe {
        assert_eq!((*stack[0]).StackSize, (*node.pdo()).StackSize + 1);
        assert_eq!((*node.pdo()).AttachedDevice, stack[0]);
    }
    assert_eq!(
        kernel.open_device(&node).err(),
        Some(STATUS_NO_SUCH_DEVICE),
        "not started yet"
    );

    assert_eq!(node.start(), STATUS_SUCCESS);
    assert_eq!(node.state(), NodeState::Started);
    let minors: Vec<u8> = node.sent().iter().map(|s| s.0).collect();
    assert_eq!(
        minors,
        [
            IRP_MN_START_DEVICE as u8,
            IRP_MN_QUERY_CAPABILITIES as u8,
            IRP_MN_QUERY_PNP_DEVICE_STATE as u8,
            IRP_MN_QUERY_DEVICE_RELATIONS as u8,
            0xFF
        ]
    );
    // The PDO answers only what a PDO handles; the rest come back NOT_SUPPORTED.
    assert_eq!(node.sent()[2].1, STATUS_NOT_SUPPORTED);

    let file = kernel.open_device(&node).unwrap();
    let r = file.read(4);
    assert_eq!((r.status, r.data()), (STATUS_SUCCESS, &b"pppp"[..]));
    // A handle open vetoes the removal: CANCEL_REMOVE follows.
    assert_eq!(node.query_remove_and_remove(), Err(STATUS_DEVICE_BUSY));
    assert_eq!(node.sent().last().unwrap().0, IRP_MN_CANCEL_REMOVE_DEVICE as u8);
    file.close();

    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    assert!(node.stack().is_empty());
    assert_eq!(node.state(), NodeState::Initialized);
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn surprise_removal_with_a_handle_open_sends_remove_after_the_close() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnptest", entry::<GOOD>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    let file = kernel.open_device(&node).unwrap();
    let sent_before = node.sent().len();

    assert_eq!(node.surprise_remove(), STATUS_SUCCESS);
    assert_eq!(node.state(), NodeState::SurpriseRemoved);
    // No REMOVE while the handle is open; the FDO is still attached and fails new I/O.
    assert_eq!(node.sent().len(), sent_before + 1);
    assert_eq!(node.stack().len(), 1);
    assert_eq!(file.read(4).status, STATUS_NO_SUCH_DEVICE);

    file.close();
    assert_eq!(node.sent().last(), Some(&(IRP_MN_REMOVE_DEVICE as u8, STATUS_SUCCESS)));
    assert_eq!(node.state(), NodeState::Deleted);
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn surprise_removal_without_handles_removes_at_once() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnptest", entry::<GOOD>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    assert_eq!(node.surprise_remove(), STATUS_SUCCESS);
    let tail: Vec<u8> = node.sent().iter().rev().take(2).map(|s| s.0).collect();
    assert_eq!(tail, [IRP_MN_REMOVE_DEVICE as u8, IRP_MN_SURPRISE_REMOVAL as u8]);
    assert_eq!(node.state(), NodeState::Deleted);
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_vetoed_query_remove_is_cancelled_and_the_device_stays() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnptest", entry::<VETOES_QUERY_REMOVE>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    assert_eq!(node.query_remove_and_remove(), Err(STATUS_UNSUCCESSFUL));
    assert_eq!(node.sent().last().unwrap().0, IRP_MN_CANCEL_REMOVE_DEVICE as u8);
    assert_eq!(node.state(), NodeState::Started);
    assert!(kernel.reports().is_empty(), "QUERY_REMOVE may fail");
    assert_eq!(node.surprise_remove(), STATUS_SUCCESS);
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_failed_start_is_followed_by_remove() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnptest", entry::<FAILS_START>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_UNSUCCESSFUL);
    let minors: Vec<u8> = node.sent().iter().map(|s| s.0).collect();
    assert_eq!(minors, [IRP_MN_START_DEVICE as u8, IRP_MN_REMOVE_DEVICE as u8]);
    assert!(node.stack().is_empty());
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn add_device_leaving_do_device_initializing_is_0xc9_0x243() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnptest", entry::<LEAVES_INITIALIZING>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    let reports = kernel.take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].rule, Rule::PnpDeviceInitializing);
    assert_eq!(reports[0].rule.stop_code(), StopCode::sub(0xC9, 0x243));
    assert_eq!(node.start(), STATUS_SUCCESS);
    // Nothing can open a device that is still initializing.
    assert!(kernel.open_device(&node).is_err());
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn completing_an_unknown_pnp_irp_instead_of_forwarding_is_0xc9_0x22d() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnptest", entry::<COMPLETES_UNHANDLED>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    let reports = kernel.take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].rule, Rule::PnpUnknownIrpCompleted);
    assert_eq!(reports[0].rule.stop_code(), StopCode::sub(0xC9, 0x22D));
    assert_eq!(reports[0].rule.sdv_rule(), Some("PnpIrpCompletion"));
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn changing_iostatus_of_an_unhandled_pnp_irp_is_0xc9_0x213() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnptest", entry::<TOUCHES_UNHANDLED>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    assert_eq!(rules(&kernel), [Rule::PnpUnknownIrpStatusChanged]);
    assert_eq!(Rule::PnpUnknownIrpStatusChanged.stop_code(), StopCode::sub(0xC9, 0x213));
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn the_unknown_irp_probe_is_off_without_io_verification() {
    let kernel = Kernel::new();
    kernel.without_io_verification();
    let driver = kernel.load("pnptest", entry::<COMPLETES_UNHANDLED>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    assert_eq!(node.sent().len(), 4);
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn failing_remove_is_0xc9_0x306_and_leaves_the_device() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnptest", entry::<FAILS_REMOVE>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_UNSUCCESSFUL));
    assert_eq!(
        rules(&kernel),
        [
            Rule::PnpRemoveFailed,
            Rule::PnpRemoveNotDetached,
            Rule::PnpRemoveNotDeleted
        ]
    );
    assert_eq!(Rule::PnpRemoveFailed.stop_code(), StopCode::sub(0xC9, 0x306));
}

#[test]
fn keeping_the_device_on_remove_is_0xc9_0x21d_and_0x21e() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnptest", entry::<KEEPS_DEVICE>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    let reports = kernel.take_reports();
    let codes: Vec<StopCode> = reports.iter().map(|r| r.rule.stop_code()).collect();
    assert_eq!(
        codes,
        [StopCode::sub(0xC9, 0x21D), StopCode::sub(0xC9, 0x21E)],
        "{reports:?}"
    );
}

#[test]
fn detaching_and_deleting_on_surprise_removal_is_0xc9_0x242() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnptest", entry::<DELETES_ON_SURPRISE>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    let file = kernel.open_device(&node).unwrap();
    assert_eq!(node.surprise_remove(), STATUS_SUCCESS);
    let reports = kernel.take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].rule, Rule::PnpSurpriseRemoveDeleted);
    assert_eq!(reports[0].rule.sdv_rule(), Some("PnpSurpriseRemove"));
    drop(file);
    driver.unload();
}

#[test]
fn failing_surprise_removal_is_0xc4_0x43006() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnptest", entry::<FAILS_SURPRISE>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    let bug = kernel.catch(|| node.surprise_remove()).unwrap_err().0;
    assert_eq!(bug.rule, Rule::PnpMustSucceed);
    assert_eq!(bug.rule.stop_code(), StopCode::sub(0xC4, 0x43006));
    assert_eq!(bug.rule.sdv_rule(), Some("PnpRemove"));
}

#[test]
fn release_and_wait_outside_remove_is_reported() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnptest", entry::<GOOD>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    let fdo = node.stack()[0] as usize;
    kernel.run(|| unsafe {
        let lock = &raw mut (*ext(fdo as PDEVICE_OBJECT)).lock;
        assert_eq!(IoAcquireRemoveLock(lock, 1 as PVOID), STATUS_SUCCESS);
        IoReleaseRemoveLockAndWait(lock, 1 as PVOID);
    });
    assert_eq!(rules(&kernel), [Rule::ReleaseAndWaitOutsideRemove]);
}

#[test]
fn passing_query_remove_down_as_not_supported_is_0xc9_0x22f() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnptest", entry::<QUERY_REMOVE_UNTOUCHED>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    // The PDO still succeeds it, so the removal goes through; the FDO's omission is reported.
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    let reports = kernel.take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].rule.stop_code(), StopCode::sub(0xC9, 0x22F));
    assert_eq!(reports[0].rule.sdv_rule(), Some("NsRemoveLockMnRemove"));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn remove_waits_in_release_and_wait_for_an_operation_in_flight() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnptest", entry::<GOOD>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    let fdo = node.stack()[0] as usize;
    let lock = move || unsafe { &raw mut (*ext(fdo as PDEVICE_OBJECT)).lock };
    // Work in flight (a DPC or a work item of the driver) holds the remove lock.
    kernel.run(|| unsafe { assert_eq!(IoAcquireRemoveLock(lock(), 0x77 as PVOID), STATUS_SUCCESS) });
    let sent = node.sent().len();
    std::thread::scope(|s| {
        let removal = s.spawn(|| node.query_remove_and_remove());
        // QUERY_REMOVE completes; REMOVE is stuck in IoReleaseRemoveLockAndWait.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while node.sent().len() < sent + 1 {
            assert!(std::time::Instant::now() < deadline, "QUERY_REMOVE did not complete");
            std::thread::yield_now();
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(node.sent().len(), sent + 1, "REMOVE returned with a hold outstanding");
        assert!(!removal.is_finished());
        // New work is refused meanwhile; the last hold goes, and REMOVE finishes.
        kernel.run(|| unsafe {
            assert_eq!(IoAcquireRemoveLock(lock(), 0x78 as PVOID), STATUS_DELETE_PENDING);
            IoReleaseRemoveLock(lock(), 0x77 as PVOID);
        });
        assert_eq!(removal.join().unwrap(), Ok(STATUS_SUCCESS));
    });
    assert!(node.stack().is_empty());
    driver.unload();
    kernel.assert_clean();
}
