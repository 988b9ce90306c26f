//! Completion, the dispatch-return contract, cancellation and spin locks (spec §5-§7): each
//! classic mistake made by a raw fixture is reported with its code, and the correct twin is
//! clean. The fixture's IOCTL function number picks the behaviour.

#![allow(clippy::multiple_unsafe_ops_per_block, clippy::missing_safety_doc)]

mod common;

use common::*;
use wdm_sim::{Kernel, Rule, Severity};
use wdm_sys::ntddk::*;
use wdm_sys::*;

const fn code(function: u32) -> u32 {
    CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800 + function, METHOD_BUFFERED, FILE_ANY_ACCESS)
}

const CORRECT: u32 = 0;
const DOUBLE_COMPLETION: u32 = 1;
const COMPLETE_WITH_CANCEL_ROUTINE: u32 = 2;
const PENDING_NOT_MARKED: u32 = 3;
const MARKED_NOT_PENDING: u32 = 4;
const NOT_COMPLETED: u32 = 5;
const STATUS_MISMATCH: u32 = 6;
const COMPLETE_PENDING: u32 = 7;
const CANCEL_LOCK_NOT_RELEASED: u32 = 8;
const CANCEL_ROUTINE_KEEPS_LOCK: u32 = 9;
const PEND_CANCELABLE: u32 = 10;
const SPIN_LOCK_TWICE: u32 = 11;
const SPIN_LOCK_RELEASE_NOT_HELD: u32 = 12;
const COMPLETE_HOLDING_SPIN_LOCK: u32 = 13;
const PENDING_CORRECT: u32 = 14;
const CANCEL_ROUTINE_FORGETS: u32 = 15;

static mut LOCK: KSPIN_LOCK = 0;

unsafe extern "C-unwind" fn keeps_lock(_device: PDEVICE_OBJECT, _irp: PIRP) {
    // Forgets IoReleaseCancelSpinLock(Irp->CancelIrql).
}

unsafe extern "C-unwind" fn release_only(_device: PDEVICE_OBJECT, irp: PIRP) {
    // SAFETY: called with the cancel lock held; releases it and forgets to complete.
    unsafe { IoReleaseCancelSpinLock((*irp).CancelIrql) };
}

unsafe extern "C-unwind" fn cancel_and_complete(_device: PDEVICE_OBJECT, irp: PIRP) {
    // SAFETY: called with the cancel lock held, for an IRP we pended.
    unsafe {
        IoReleaseCancelSpinLock((*irp).CancelIrql);
        complete(irp, STATUS_CANCELLED, 0);
    }
}

unsafe extern "C-unwind" fn dispatch(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us the IRP; each arm is a fixture, some wrong on purpose.
    unsafe {
        let stack = &*IoGetCurrentIrpStackLocation(irp);
        let function = IoGetFunctionCodeFromCtlCode(stack.Parameters.DeviceIoControl.IoControlCode) - 0x800;
        match function {
            CORRECT => {
                complete(irp, STATUS_SUCCESS, 0);
                STATUS_SUCCESS
            }
            DOUBLE_COMPLETION => {
                complete(irp, STATUS_SUCCESS, 0);
                complete(irp, STATUS_SUCCESS, 0);
                STATUS_SUCCESS
            }
            COMPLETE_WITH_CANCEL_ROUTINE => {
                IoSetCancelRoutine(irp, Some(cancel_and_complete));
                complete(irp, STATUS_SUCCESS, 0);
                STATUS_SUCCESS
            }
            PENDING_NOT_MARKED => {
                complete(irp, STATUS_SUCCESS, 0);
                STATUS_PENDING
            }
            MARKED_NOT_PENDING => {
                IoMarkIrpPending(irp);
                complete(irp, STATUS_SUCCESS, 0);
                STATUS_SUCCESS
            }
            NOT_COMPLETED => STATUS_SUCCESS,
            STATUS_MISMATCH => {
                complete(irp, STATUS_SUCCESS, 0);
                STATUS_UNSUCCESSFUL
            }
            COMPLETE_PENDING => {
                complete(irp, STATUS_PENDING, 0);
                STATUS_PENDING
            }
            CANCEL_LOCK_NOT_RELEASED => {
                // SDV's fail_driver1: acquire the cancel spin lock and forget to release it.
                let mut irql = 0;
                IoAcquireCancelSpinLock(&mut irql);
                complete(irp, STATUS_SUCCESS, 0);
                STATUS_SUCCESS
            }
            CANCEL_ROUTINE_KEEPS_LOCK => {
                IoMarkIrpPending(irp);
                IoSetCancelRoutine(irp, Some(keeps_lock));
                STATUS_PENDING
            }
            CANCEL_ROUTINE_FORGETS => {
                IoMarkIrpPending(irp);
                IoSetCancelRoutine(irp, Some(release_only));
                STATUS_PENDING
            }
            PEND_CANCELABLE | PENDING_CORRECT => {
                IoMarkIrpPending(irp);
                IoSetCancelRoutine(irp, Some(cancel_and_complete));
                STATUS_PENDING
            }
            SPIN_LOCK_TWICE => {
                let old = KeAcquireSpinLockRaiseToDpc(&raw mut LOCK);
                KeAcquireSpinLockAtDpcLevel(&raw mut LOCK);
                KeReleaseSpinLock(&raw mut LOCK, old);
                complete(irp, STATUS_SUCCESS, 0);
                STATUS_SUCCESS
            }
            SPIN_LOCK_RELEASE_NOT_HELD => {
                let old = KfRaiseIrql(DISPATCH_LEVEL as u8);
                KeReleaseSpinLock(&raw mut LOCK, old);
                complete(irp, STATUS_SUCCESS, 0);
                STATUS_SUCCESS
            }
            COMPLETE_HOLDING_SPIN_LOCK => {
                let mut lock: KSPIN_LOCK = 0;
                let old = KeAcquireSpinLockRaiseToDpc(&mut lock);
                complete(irp, STATUS_SUCCESS, 0);
                KeReleaseSpinLock(&mut lock, old);
                STATUS_SUCCESS
            }
            _ => {
                complete(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
                STATUS_INVALID_DEVICE_REQUEST
            }
        }
    }
}

unsafe extern "C-unwind" fn unload(driver: PDRIVER_OBJECT) {
    // SAFETY: the driver's own objects.
    unsafe { delete_devices(driver, &["Fixture"]) };
}

unsafe extern "C-unwind" fn entry(driver: PDRIVER_OBJECT, _registry: PUNICODE_STRING) -> NTSTATUS {
    // SAFETY: the simulator passes a valid driver object.
    unsafe {
        create_device(driver, "Fixture", 0, DO_BUFFERED_IO);
        open_close(driver);
        (*driver).MajorFunction[IRP_MJ_DEVICE_CONTROL as usize] = Some(dispatch);
        (*driver).DriverUnload = Some(unload);
    }
    STATUS_SUCCESS
}

/// Sends IOCTL `function` and returns the fatal report it caused.
fn bug_check(function: u32) -> wdm_sim::Report {
    let kernel = Kernel::new();
    let _driver = kernel.load("fixture", entry).unwrap();
    let file = kernel.open(r"\\.\Fixture").unwrap();
    let bug = kernel
        .catch(|| file.ioctl(code(function), &[], 0))
        .expect_err("the mistake is fatal");
    assert_eq!(bug.0.rule.severity(), Severity::Fatal);
    std::mem::forget(file);
    bug.0
}

/// Sends IOCTL `function`, lets the request finish, and returns the warnings it caused.
fn warnings(function: u32) -> Vec<Rule> {
    let kernel = Kernel::new();
    let driver = kernel.load("fixture", entry).unwrap();
    let file = kernel.open(r"\\.\Fixture").unwrap();
    let p = file.start_ioctl(code(function), &[], 0);
    assert!(p.is_done(), "every warning fixture completes its IRP");
    file.close();
    driver.unload();
    let rules: Vec<Rule> = kernel.take_reports().into_iter().map(|r| r.rule).collect();
    kernel.assert_clean();
    rules
}

#[test]
fn the_correct_twin_is_clean() {
    assert!(warnings(CORRECT).is_empty());
}

#[test]
fn double_completion_is_0x44() {
    let r = bug_check(DOUBLE_COMPLETION);
    assert_eq!(r.rule, Rule::DoubleCompletion);
    assert_eq!(r.rule.stop_code().code, 0x44);
    assert!(r.irp.is_some());
    assert_eq!(r.rule.sdv_rule(), Some("DoubleCompletion"));
}

#[test]
fn completing_with_a_cancel_routine_set_is_0xc9_7() {
    let r = bug_check(COMPLETE_WITH_CANCEL_ROUTINE);
    assert_eq!(r.rule, Rule::CompleteWithCancelRoutine);
    assert_eq!(r.rule.stop_code(), wdm_sim::StopCode::sub(0xC9, 0x07));
}

#[test]
fn completing_with_status_pending_is_0xc9_6() {
    assert_eq!(bug_check(COMPLETE_PENDING).rule, Rule::CompletePending);
}

#[test]
fn the_four_pending_contract_mismatches() {
    assert_eq!(warnings(PENDING_NOT_MARKED), [Rule::PendingNotMarked]);
    assert_eq!(Rule::PendingNotMarked.stop_code().subcode, Some(0x23D));
    assert_eq!(warnings(MARKED_NOT_PENDING), [Rule::MarkedNotPending]);
    assert_eq!(Rule::MarkedNotPending.stop_code().subcode, Some(0x23E));
    assert_eq!(warnings(STATUS_MISMATCH), [Rule::ReturnStatusMismatch]);
    assert_eq!(Rule::ReturnStatusMismatch.stop_code().subcode, Some(0x224));

    // Returned without completing: the IRP stays in flight, and 0x226 is reported.
    let kernel = Kernel::new();
    let _driver = kernel.load("fixture", entry).unwrap();
    let file = kernel.open(r"\\.\Fixture").unwrap();
    let p = file.start_ioctl(code(NOT_COMPLETED), &[], 0);
    assert!(!p.is_done());
    assert!(kernel.was_reported(Rule::NotCompletedNotPending));
    assert_eq!(Rule::NotCompletedNotPending.stop_code().subcode, Some(0x226));
    std::mem::forget(file);
}

#[test]
fn cancel_lock_kept_by_a_dispatch_routine_changes_its_irql() {
    // SDV fail_driver1: IoAcquireCancelSpinLock without IoReleaseCancelSpinLock. The dispatch
    // routine returns at DISPATCH_LEVEL holding the lock; Verifier stops at 0xC9/0x05.
    let r = bug_check(CANCEL_LOCK_NOT_RELEASED);
    assert_eq!(r.rule, Rule::IrqlChangedAcrossCall);
}

#[test]
fn cancel_routine_returning_with_the_lock_is_0x11b() {
    let kernel = Kernel::new();
    let _driver = kernel.load("fixture", entry).unwrap();
    let file = kernel.open(r"\\.\Fixture").unwrap();
    let p = file.start_ioctl(code(CANCEL_ROUTINE_KEEPS_LOCK), &[], 0);
    let bug = kernel.catch(|| p.cancel()).unwrap_err();
    assert_eq!(bug.0.rule, Rule::ReturnedHoldingCancelLock);
    assert_eq!(bug.0.rule.stop_code().code, 0x11B);
    std::mem::forget(file);
}

#[test]
fn a_pended_cancelable_irp_is_cancelled_cleanly() {
    let kernel = Kernel::new();
    let driver = kernel.load("fixture", entry).unwrap();
    let file = kernel.open(r"\\.\Fixture").unwrap();
    let p = file.start_ioctl(code(PENDING_CORRECT), &[], 0);
    assert_eq!(p.returned, STATUS_PENDING);
    assert!(!p.is_done());
    assert!(p.cancel());
    assert_eq!(p.wait().status, STATUS_CANCELLED);
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_stale_cancel_routine_on_a_completed_irp_is_0x48_without_verifier() {
    // Without I/O verification the bad completion goes unnoticed...
    let kernel = Kernel::new();
    kernel.without_io_verification();
    let _driver = kernel.load("fixture", entry).unwrap();
    let file = kernel.open(r"\\.\Fixture").unwrap();
    let p = file.start_ioctl(code(COMPLETE_WITH_CANCEL_ROUTINE), &[], 0);
    assert!(p.is_done());
    // ...until someone cancels the completed IRP and finds the stale routine.
    let irp = p.irp();
    // SAFETY: IoCancelIrp on the (quarantined) completed IRP, as a late canceller would.
    let bug = kernel.catch(|| kernel.run(|| unsafe { IoCancelIrp(irp) })).unwrap_err();
    assert_eq!(bug.0.rule, Rule::CancelStateInCompletedIrp);
    assert_eq!(bug.0.rule.stop_code().code, 0x48);
    std::mem::forget(file);
}

#[test]
fn spin_lock_rules() {
    let r = bug_check(SPIN_LOCK_TWICE);
    assert_eq!((r.rule, r.rule.stop_code().code), (Rule::SpinLockAlreadyOwned, 0xF));
    let r = bug_check(SPIN_LOCK_RELEASE_NOT_HELD);
    assert_eq!(r.rule, Rule::SpinLockNotHeld);
    assert_eq!(warnings(COMPLETE_HOLDING_SPIN_LOCK), [Rule::CalledHoldingSpinLock]);
}

#[test]
fn unhandled_majors_fail_with_invalid_device_request() {
    let kernel = Kernel::new();
    let driver = kernel.load("fixture", entry).unwrap();
    let file = kernel.open(r"\\.\Fixture").unwrap();
    assert_eq!(file.read(8).status, STATUS_INVALID_DEVICE_REQUEST);
    assert_eq!(file.ioctl(code(99), &[], 0).status, STATUS_INVALID_DEVICE_REQUEST);
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn every_rule_has_a_description_and_fatal_ones_a_stop_code() {
    for rule in Rule::ALL {
        assert!(!rule.title().is_empty());
        if rule.severity() == Severity::Fatal && *rule != Rule::DriverBugCheck {
            // WineStubCalled: Wine kills winedevice.exe; Windows has no such stop.
            // RemoveLockWaitHang: Windows hangs in REMOVE for ever; the simulator stops instead.
            let expected_codeless = [
                Rule::ForwardCompletedIrp,
                Rule::CompletedDriverIrp,
                Rule::WineStubCalled,
                Rule::RemoveLockWaitHang,
            ];
            assert!(
                rule.stop_code().code != 0 || expected_codeless.contains(rule),
                "{rule:?}"
            );
        }
    }
}

#[test]
fn a_cancelled_irp_never_completed_is_0xc4_0x135() {
    let kernel = Kernel::new();
    let _driver = kernel.load("fixture", entry).unwrap();
    let file = kernel.open(r"\\.\Fixture").unwrap();
    let p = file.start_ioctl(code(CANCEL_ROUTINE_FORGETS), &[], 0);
    assert!(p.cancel());
    assert!(p.wait_for(std::time::Duration::from_millis(50)).is_none());
    let r = kernel
        .reports()
        .into_iter()
        .find(|r| r.rule == Rule::CancelledNotCompleted)
        .expect("reported");
    assert_eq!(r.rule.stop_code(), wdm_sim::StopCode::sub(0xC4, 0x135));
    std::mem::forget(file);
}
