//! A bug check raised while the driver has drop guards alive. The simulated bug check unwinds
//! through the driver, so its guards' destructors run and call back into the simulator on a
//! machine that has already stopped: releasing a spin lock, lowering the IRQL, completing the
//! IRP. None of that may raise a second, bogus report or panic again (which would abort the
//! test process): the test sees the first report only, and the machine can still be inspected
//! and dropped. The same holds for another processor of the machine that breaks a rule after
//! the bug check.
//!
//! The fixture's IOCTL function number picks the scenario.

#![allow(clippy::multiple_unsafe_ops_per_block, clippy::missing_safety_doc)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use common::*;
use wdm_sim::{BugCheck, Kernel, Rule, StopCode};
use wdm_sys::ntddk::*;
use wdm_sys::*;

const fn code(function: u32) -> u32 {
    CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800 + function, METHOD_BUFFERED, FILE_ANY_ACCESS)
}

/// KeAcquireSpinLock, a guard that releases it, then the same lock again (0xF).
const SPIN_LOCK_GUARD: u32 = 0;
/// KeAcquireSpinLock and a guard, the lock released by hand (the guard about to be
/// disarmed), then KeAcquireSpinLockAtDpcLevel at PASSIVE_LEVEL (0xC4/0x40): the guard releases
/// the lock again, at PASSIVE_LEVEL.
const SPIN_LOCK_GUARD_RELEASED: u32 = 6;
/// A guard whose destructor takes the device's lock for a moment, then KeBugCheckEx while
/// another processor holds that lock.
const GUARD_TAKES_LOCK: u32 = 7;
/// The cancel spin lock, a guard that releases it and completes the IRP, then the cancel spin
/// lock again (0xF).
const CANCEL_LOCK_GUARD: u32 = 1;
/// A guard that completes the IRP (as `wdm`'s pending IRP does when dropped), the IRP completed
/// by hand, then KeBugCheckEx: the guard completes it a second time.
const COMPLETION_GUARD: u32 = 2;
/// Raised to DISPATCH_LEVEL under a guard that lowers the IRQL again, a spin lock taken at
/// DISPATCH_LEVEL under a guard that releases it, then a wait at DISPATCH_LEVEL (0xC4/0x3B).
const IRQL_GUARD: u32 = 3;
/// Queues a DPC that waits for the test's go-ahead and then calls KeBugCheckEx, and stops the
/// machine itself with KeBugCheckEx first.
const LATE_DPC: u32 = 4;
/// KeBugCheckEx, no guard alive.
const BUG_CHECK: u32 = 5;

/// The device extension: the fixture's lock and DPC live in the device, so tests running in
/// parallel never share them.
#[repr(C)]
struct Ext {
    lock: KSPIN_LOCK,
    dpc: KDPC,
    go: AtomicBool,
}

/// The extension, as a raw pointer: the DPC and the dispatch routine use it on different
/// processors at once, so no `&mut Ext` may cover it (Miri: a data race on the retag).
unsafe fn ext(device: PDEVICE_OBJECT) -> *mut Ext {
    // SAFETY: the fixture's device has an `Ext` extension.
    unsafe { (*device).DeviceExtension.cast::<Ext>() }
}

/// Releases a KeAcquireSpinLock lock when dropped.
struct SpinLockGuard {
    lock: PKSPIN_LOCK,
    old: KIRQL,
}

impl Drop for SpinLockGuard {
    fn drop(&mut self) {
        // SAFETY: the guard was made right after acquiring the lock, which returned `old`.
        unsafe { KeReleaseSpinLock(self.lock, self.old) };
    }
}

/// Releases a KeAcquireSpinLockAtDpcLevel lock when dropped.
struct DpcLockGuard(PKSPIN_LOCK);

impl Drop for DpcLockGuard {
    fn drop(&mut self) {
        // SAFETY: the guard was made right after acquiring the lock at DISPATCH_LEVEL.
        unsafe { KeReleaseSpinLockFromDpcLevel(self.0) };
    }
}

/// Lowers the IRQL back to what a raise returned, when dropped.
struct IrqlGuard(KIRQL);

impl Drop for IrqlGuard {
    fn drop(&mut self) {
        // SAFETY: the IRQL the matching KfRaiseIrql returned.
        unsafe { KeLowerIrql(self.0) };
    }
}

/// Clears the cancel routine, releases the cancel spin lock and completes the IRP cancelled,
/// when dropped.
struct CancelLockGuard {
    irp: PIRP,
    irql: KIRQL,
}

impl Drop for CancelLockGuard {
    fn drop(&mut self) {
        // SAFETY: the guard holds the cancel spin lock, acquired with `irql` saved, and owns the
        // IRP.
        unsafe {
            IoSetCancelRoutine(self.irp, None);
            IoReleaseCancelSpinLock(self.irql);
            complete(self.irp, STATUS_CANCELLED, 0);
        }
    }
}

/// Takes and releases a lock when dropped (as a guard that updates shared state on its way
/// out would).
struct LockingGuard(PKSPIN_LOCK);

impl Drop for LockingGuard {
    fn drop(&mut self) {
        // SAFETY: the device's initialized lock, not held by this processor.
        unsafe {
            let old = KeAcquireSpinLock(self.0);
            KeReleaseSpinLock(self.0, old);
        }
    }
}

/// Completes the IRP cancelled when dropped.
struct CompletionGuard(PIRP);

impl Drop for CompletionGuard {
    fn drop(&mut self) {
        // SAFETY: the guard owns the IRP (so the fixture believes).
        unsafe { complete(self.0, STATUS_CANCELLED, 0) };
    }
}

unsafe extern "C-unwind" fn late_dpc(_dpc: PKDPC, context: PVOID, _a1: PVOID, _a2: PVOID) {
    // SAFETY: queued with the device's extension as context; only its atomic flag is borrowed
    // (the rest of the extension is another processor's).
    let go = unsafe { &(*context.cast::<Ext>()).go };
    while !go.load(SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: a plain bug check, after the machine has already stopped.
    unsafe { KeBugCheckEx(0xBEEF, 5, 6, 7, 8) }
}

unsafe extern "C-unwind" fn dispatch(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us the IRP; each arm is a fixture, wrong on purpose.
    unsafe {
        let e = ext(device);
        let lock = &raw mut (*e).lock;
        let stack = &*IoGetCurrentIrpStackLocation(irp);
        match IoGetFunctionCodeFromCtlCode(stack.Parameters.DeviceIoControl.IoControlCode) - 0x800 {
            SPIN_LOCK_GUARD => {
                let old = KeAcquireSpinLock(lock);
                let _guard = SpinLockGuard { lock, old };
                KeAcquireSpinLockRaiseToDpc(lock);
            }
            SPIN_LOCK_GUARD_RELEASED => {
                let old = KeAcquireSpinLock(lock);
                let guard = SpinLockGuard { lock, old };
                KeReleaseSpinLock(lock, old);
                KeAcquireSpinLockAtDpcLevel(lock);
                std::mem::forget(guard);
            }
            GUARD_TAKES_LOCK => {
                let _guard = LockingGuard(lock);
                KeBugCheckEx(0xC, 17, 18, 19, 20);
            }
            CANCEL_LOCK_GUARD => {
                let mut irql = 0;
                IoAcquireCancelSpinLock(&mut irql);
                let _guard = CancelLockGuard { irp, irql };
                let mut again = 0;
                IoAcquireCancelSpinLock(&mut again);
            }
            COMPLETION_GUARD => {
                let _guard = CompletionGuard(irp);
                complete(irp, STATUS_SUCCESS, 0);
                KeBugCheckEx(0xDEAD, 1, 2, 3, 4);
            }
            IRQL_GUARD => {
                let old = KfRaiseIrql(DISPATCH_LEVEL as KIRQL);
                let _irql = IrqlGuard(old);
                KeAcquireSpinLockAtDpcLevel(lock);
                let _lock = DpcLockGuard(lock);
                let mut interval = LARGE_INTEGER { QuadPart: -10 };
                let _ = KeDelayExecutionThread(_MODE::KernelMode as i8, 0, &mut interval);
            }
            LATE_DPC => {
                KeInitializeDpc(&raw mut (*e).dpc, Some(late_dpc), e.cast());
                KeInsertQueueDpc(&raw mut (*e).dpc, std::ptr::null_mut(), std::ptr::null_mut());
                KeBugCheckEx(0xA, 9, 10, 11, 12);
            }
            BUG_CHECK => KeBugCheckEx(0xB, 13, 14, 15, 16),
            _ => {}
        }
        complete(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
        STATUS_INVALID_DEVICE_REQUEST
    }
}

unsafe extern "C-unwind" fn unload(driver: PDRIVER_OBJECT) {
    // SAFETY: the driver's own objects.
    unsafe { delete_devices(driver, &["Unwind"]) };
}

unsafe extern "C-unwind" fn entry(driver: PDRIVER_OBJECT, _registry: PUNICODE_STRING) -> NTSTATUS {
    // SAFETY: the simulator passes a valid driver object.
    unsafe {
        let device = create_device(driver, "Unwind", size_of::<Ext>() as u32, DO_BUFFERED_IO);
        ext(device).write(Ext {
            lock: 0,
            dpc: KDPC::default(),
            go: AtomicBool::new(false),
        });
        open_close(driver);
        (*driver).MajorFunction[IRP_MJ_DEVICE_CONTROL as usize] = Some(dispatch);
        (*driver).DriverUnload = Some(unload);
    }
    STATUS_SUCCESS
}

/// Loads the fixture, sends IOCTL `function`, and hands the bug check it caused to `check`
/// with the fixture's device. Then checks that the machine, stopped, still answers: the first
/// report is the only one, a new request is refused with that same report, and the file,
/// driver and machine drop quietly.
fn stop_with(function: u32, check: impl FnOnce(&BugCheck, PDEVICE_OBJECT)) {
    let kernel = Kernel::new();
    let driver = kernel.load("unwind", entry).unwrap();
    // SAFETY: the driver's only device, alive until the machine is dropped.
    let device = unsafe { (*driver.object()).DeviceObject };
    let file = kernel.open(r"\\.\Unwind").unwrap();
    let bug = kernel
        .catch(|| file.ioctl(code(function), &[], 0))
        .expect_err("the fixture bug-checks");
    check(&bug, device);

    let reports = kernel.reports();
    assert_eq!(reports.len(), 1, "one report, the first: {reports:#?}");
    assert_eq!(reports[0].rule, bug.0.rule);
    assert_eq!(reports[0].parameters, bug.0.parameters);
    let again = kernel
        .catch(|| file.ioctl(code(function), &[], 0))
        .expect_err("a stopped machine takes no requests");
    assert_eq!((again.0.rule, again.0.parameters), (bug.0.rule, bug.0.parameters));
    let _ = (kernel.pool(), kernel.debug_output(), kernel.timeline());
    assert_eq!(kernel.reports().len(), 1);
    drop(file);
    drop(driver);
    drop(kernel);
}

#[test]
fn a_spin_lock_guard_dropped_by_the_bug_check_adds_no_report() {
    stop_with(SPIN_LOCK_GUARD, |bug, device| {
        // SAFETY: the fixture's device.
        let lock = unsafe { &raw mut (*ext(device)).lock };
        let r = &bug.0;
        assert_eq!(
            (r.rule, r.rule.stop_code()),
            (Rule::SpinLockAlreadyOwned, StopCode::new(0xF))
        );
        assert_eq!(r.parameters, [lock as usize, 0, 0, 0]);
        assert_eq!((r.routine, r.irql, r.irp), ("KeAcquireSpinLockRaiseToDpc", 2, None));
        // The guard's KeReleaseSpinLock still released the lock word.
        // SAFETY: reading the lock word; no processor runs.
        assert_eq!(unsafe { lock.read() }, 0);
    });
}

#[test]
fn a_spin_lock_guard_releasing_a_released_lock_adds_no_report() {
    stop_with(SPIN_LOCK_GUARD_RELEASED, |bug, device| {
        // SAFETY: the fixture's device.
        let lock = unsafe { &raw mut (*ext(device)).lock };
        let r = &bug.0;
        assert_eq!(
            (r.rule, r.rule.stop_code()),
            (Rule::AcquireAtDpcBelowDispatch, StopCode::sub(0xC4, 0x40))
        );
        assert_eq!(r.parameters, [0x40, 0, lock as usize, 0]);
        assert_eq!((r.routine, r.irql), ("KeAcquireSpinLockAtDpcLevel", 0));
        // SAFETY: reading the lock word; no processor runs.
        assert_eq!(unsafe { lock.read() }, 0);
    });
}

#[test]
fn a_cancel_lock_guard_that_completes_the_irp_adds_no_report() {
    stop_with(CANCEL_LOCK_GUARD, |bug, device| {
        // SAFETY: the fixture's device.
        let lock = unsafe { &raw mut (*ext(device)).lock };
        let r = &bug.0;
        assert_eq!(
            (r.rule, r.rule.stop_code()),
            (Rule::SpinLockAlreadyOwned, StopCode::new(0xF))
        );
        assert_eq!((r.routine, r.irql, r.irp), ("IoAcquireCancelSpinLock", 2, None));
        // Parameter 1 is the cancel spin lock, not the driver's.
        assert_ne!(r.parameters[0], 0);
        assert_ne!(r.parameters[0], lock as usize);
        assert_eq!(r.parameters[1..], [0, 0, 0]);
    });
}

#[test]
fn a_completion_guard_completing_a_completed_irp_adds_no_report() {
    stop_with(COMPLETION_GUARD, |bug, _| {
        let r = &bug.0;
        assert_eq!(r.rule, Rule::DriverBugCheck);
        assert_eq!(r.parameters, [1, 2, 3, 4]);
        assert_eq!(r.routine, "KeBugCheckEx");
        assert!(r.message.contains("0xdead"), "{}", r.message);
    });
}

#[test]
fn an_irql_guard_at_dispatch_level_dropped_by_the_bug_check_adds_no_report() {
    stop_with(IRQL_GUARD, |bug, _| {
        let r = &bug.0;
        assert_eq!(
            (r.rule, r.rule.stop_code()),
            (Rule::WaitAtDispatch, StopCode::sub(0xC4, 0x3B))
        );
        assert_eq!(r.parameters, [0x3B, 2, 0, 0]);
        assert_eq!((r.routine, r.irql), ("KeDelayExecutionThread", 2));
    });
}

#[test]
fn another_processor_breaking_a_rule_after_the_bug_check_sees_the_first_report() {
    let kernel = Kernel::new();
    let _driver = kernel.load("unwind", entry).unwrap();
    let file = kernel.open(r"\\.\Unwind").unwrap();
    let (stopped, wait_for_stop) = std::sync::mpsc::channel();
    let (running, wait_for_running) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let other = kernel.spawn(s, move || {
            running.send(()).unwrap();
            wait_for_stop.recv().unwrap();
            // SAFETY: a plain bug check, on a machine that has already stopped.
            unsafe { KeBugCheckEx(0xBEEF, 5, 6, 7, 8) }
        });
        wait_for_running.recv().unwrap();
        let bug = kernel
            .catch(|| file.ioctl(code(BUG_CHECK), &[], 0))
            .expect_err("the fixture bug-checks");
        assert_eq!(bug.0.parameters, [13, 14, 15, 16]);
        stopped.send(()).unwrap();
        // It stops with the first report, not its own.
        let payload = other.join().expect_err("the other processor stops too");
        let message = payload.downcast_ref::<String>().expect("Kernel::run's message");
        assert!(message.contains("KeBugCheckEx(0xb, 0xd, 0xe, 0xf, 0x10)"), "{message}");
        assert!(!message.contains("0xbeef"), "{message}");
    });
    let reports = kernel.reports();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].parameters, [13, 14, 15, 16]);
    drop(file);
}

#[test]
fn a_guard_waiting_for_a_lock_another_processor_holds_gives_up() {
    let kernel = Kernel::new();
    let driver = kernel.load("unwind", entry).unwrap();
    // SAFETY: the driver's only device, alive until the machine is dropped.
    let device = unsafe { (*driver.object()).DeviceObject };
    // SAFETY: the fixture's device.
    let lock = unsafe { &raw mut (*ext(device)).lock } as usize;
    let file = kernel.open(r"\\.\Unwind").unwrap();
    let (held, wait_for_held) = std::sync::mpsc::channel();
    let (release, wait_for_release) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        let owner = kernel.spawn(s, move || {
            let lock = lock as PKSPIN_LOCK;
            // SAFETY: the device's lock, released below.
            let old = unsafe { KeAcquireSpinLock(lock) };
            held.send(()).unwrap();
            wait_for_release.recv().unwrap();
            // SAFETY: held by this processor, acquired at `old`.
            unsafe { KeReleaseSpinLock(lock, old) };
        });
        wait_for_held.recv().unwrap();
        // The guard spins on the lock during the unwind; the machine has stopped, so it gives
        // up instead of waiting for ever (or stopping a second time).
        let bug = kernel
            .catch(|| file.ioctl(code(GUARD_TAKES_LOCK), &[], 0))
            .expect_err("the fixture bug-checks");
        assert_eq!((bug.0.rule, bug.0.parameters), (Rule::DriverBugCheck, [17, 18, 19, 20]));
        // SAFETY: reading the lock word; its owner waits on the channel, nothing writes it.
        let word = unsafe { (lock as PKSPIN_LOCK).read() };
        assert_ne!(word, 0, "still the other processor's");
        release.send(()).unwrap();
        owner.join().expect("the owner releases its lock without a report");
    });
    // SAFETY: reading the lock word; no processor runs.
    assert_eq!(unsafe { (lock as PKSPIN_LOCK).read() }, 0);
    let reports = kernel.reports();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    drop(file);
}

#[test]
fn a_processor_stopped_while_spinning_gives_up_the_lock_its_guard_wants() {
    // One processor takes a lock and bug-checks holding it; another spins on that lock with a
    // guard alive that takes the same lock when dropped. The spinner stops with the bug check,
    // and its guard, unwinding, cannot have the lock either: it gives up.
    let kernel = Kernel::new();
    let mut word: KSPIN_LOCK = 0;
    let lock = &raw mut word as usize;
    let (held, wait_for_held) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let spinner = kernel.spawn(s, move || {
            let lock = lock as PKSPIN_LOCK;
            let _guard = LockingGuard(lock);
            wait_for_held.recv().unwrap();
            // SAFETY: an initialized lock, taken and released.
            unsafe {
                let old = KeAcquireSpinLock(lock);
                KeReleaseSpinLock(lock, old);
            }
        });
        let bug = kernel
            .catch(|| {
                kernel.run(|| {
                    let lock = lock as PKSPIN_LOCK;
                    // SAFETY: an initialized lock, kept by the bug check.
                    unsafe { KeAcquireSpinLock(lock) };
                    held.send(()).unwrap();
                    // Most likely the other processor spins by now; if not, it finds the
                    // machine stopped at its first spin.
                    std::thread::sleep(Duration::from_millis(20));
                    // SAFETY: a plain bug check.
                    unsafe { KeBugCheckEx(0xD, 21, 22, 23, 24) }
                })
            })
            .expect_err("the first processor bug-checks");
        assert_eq!(bug.0.parameters, [21, 22, 23, 24]);
        let payload = spinner.join().expect_err("the spinner stops with the bug check");
        let message = payload.downcast_ref::<String>().expect("Kernel::run's message");
        assert!(
            message.contains("KeBugCheckEx(0xd, 0x15, 0x16, 0x17, 0x18)"),
            "{message}"
        );
    });
    let reports = kernel.reports();
    assert_eq!(reports.len(), 1, "{reports:#?}");
}

#[test]
fn a_dpc_breaking_a_rule_after_the_bug_check_adds_no_report() {
    let kernel = Kernel::new();
    let driver = kernel.load("unwind", entry).unwrap();
    // SAFETY: the driver's only device, alive until the machine is dropped.
    let device = unsafe { (*driver.object()).DeviceObject };
    let file = kernel.open(r"\\.\Unwind").unwrap();
    let bug = kernel
        .catch(|| file.ioctl(code(LATE_DPC), &[], 0))
        .expect_err("the fixture bug-checks");
    assert_eq!((bug.0.rule, bug.0.parameters), (Rule::DriverBugCheck, [9, 10, 11, 12]));
    // Now the DPC, running on the system thread, calls KeBugCheckEx too.
    // SAFETY: the fixture's device.
    unsafe { (*ext(device)).go.store(true, SeqCst) };
    assert!(kernel.wait_idle(Duration::from_secs(10)), "the DPC returns");
    let reports = kernel.reports();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].parameters, [9, 10, 11, 12]);
    drop(file);
}
