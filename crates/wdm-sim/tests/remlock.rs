//! Remove locks (pnp-power.md §5): the count and its bias, ReleaseAndWait waiting for the holds
//! outstanding, DELETE_PENDING afterwards, and Driver Verifier's shadow-lock checks.

#![allow(clippy::multiple_unsafe_ops_per_block, clippy::undocumented_unsafe_blocks)]
// Each test is one scenario of raw calls on a lock the test owns.

use std::time::Duration;

use wdm_sim::{Kernel, Rule, StopCode};
use wdm_sys::ntddk::*;
use wdm_sys::*;

/// A remove lock in memory the test owns (a driver keeps it in its device extension).
fn new_lock() -> Box<IO_REMOVE_LOCK> {
    Box::new(IO_REMOVE_LOCK::default())
}

fn tag(n: usize) -> PVOID {
    n as PVOID
}

#[test]
fn acquire_and_release_balance_and_the_bias_stays() {
    let kernel = Kernel::new();
    let mut l = new_lock();
    let p: PIO_REMOVE_LOCK = &mut *l;
    kernel.run(|| unsafe {
        IoInitializeRemoveLock(p, u32::from_le_bytes(*b"RmLk"), 0, 0);
        assert_eq!(((*p).Common.Removed, (*p).Common.IoCount), (0, 1));
        assert_eq!(IoAcquireRemoveLock(p, tag(1)), STATUS_SUCCESS);
        assert_eq!(IoAcquireRemoveLock(p, tag(1)), STATUS_SUCCESS); // tags need not be unique
        assert_eq!(IoAcquireRemoveLock(p, tag(2)), STATUS_SUCCESS);
        assert_eq!((*p).Common.IoCount, 4);
        IoReleaseRemoveLock(p, tag(1));
        IoReleaseRemoveLock(p, tag(2));
        IoReleaseRemoveLock(p, tag(1));
        assert_eq!((*p).Common.IoCount, 1);
        // The REMOVE protocol: acquire, then release-and-wait with the same tag.
        assert_eq!(IoAcquireRemoveLock(p, tag(3)), STATUS_SUCCESS);
        IoReleaseRemoveLockAndWait(p, tag(3));
        assert_eq!(((*p).Common.Removed, (*p).Common.IoCount), (1, 0));
    });
    kernel.assert_clean();
}

#[test]
fn acquire_after_release_and_wait_is_delete_pending() {
    let kernel = Kernel::new();
    let mut l = new_lock();
    let p: PIO_REMOVE_LOCK = &mut *l;
    kernel.run(|| unsafe {
        IoInitializeRemoveLock(p, 0, 0, 0);
        assert_eq!(IoAcquireRemoveLock(p, tag(1)), STATUS_SUCCESS);
        IoReleaseRemoveLockAndWait(p, tag(1));
        assert_eq!(IoAcquireRemoveLock(p, tag(2)), STATUS_DELETE_PENDING);
        assert_eq!(IoAcquireRemoveLock(p, tag(2)), STATUS_DELETE_PENDING);
        // A failed acquire holds nothing: the count is back at 0.
        assert_eq!((*p).Common.IoCount, 0);
    });
    kernel.assert_clean();
}

#[test]
fn release_and_wait_waits_for_the_holds_outstanding() {
    let kernel = Kernel::new();
    let mut l = new_lock();
    let addr = &mut *l as PIO_REMOVE_LOCK as usize;
    let p = || addr as PIO_REMOVE_LOCK;
    kernel.run(|| unsafe {
        IoInitializeRemoveLock(p(), 0, 0, 0);
        // An IRP in flight on another processor holds the lock.
        assert_eq!(IoAcquireRemoveLock(p(), tag(0x10)), STATUS_SUCCESS);
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let remover = kernel.spawn(s, move || unsafe {
            assert_eq!(IoAcquireRemoveLock(p(), tag(0x20)), STATUS_SUCCESS);
            IoReleaseRemoveLockAndWait(p(), tag(0x20));
            tx.send(()).unwrap();
        });
        // ReleaseAndWait blocks while the other hold is outstanding...
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        // ... and new acquisitions already fail.
        kernel.run(|| unsafe {
            assert_eq!(IoAcquireRemoveLock(p(), tag(0x30)), STATUS_DELETE_PENDING);
            IoReleaseRemoveLock(p(), tag(0x10));
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("ReleaseAndWait returns once the last hold goes");
        remover.join().unwrap();
    });
    kernel.assert_clean();
}

#[test]
fn release_with_a_tag_that_holds_nothing_is_0xd5() {
    let kernel = Kernel::new();
    let mut l = new_lock();
    let p: PIO_REMOVE_LOCK = &mut *l;
    let bug = kernel.catch(|| {
        kernel.run(|| unsafe {
            IoInitializeRemoveLock(p, 0, 0, 0);
            assert_eq!(IoAcquireRemoveLock(p, tag(1)), STATUS_SUCCESS);
            IoReleaseRemoveLock(p, tag(2));
        })
    });
    let report = bug.unwrap_err().0;
    assert_eq!(report.rule, Rule::RemoveLockReleaseUnheld);
    assert_eq!(report.rule.stop_code(), StopCode::sub(0xC4, 0xD5));
    assert_eq!(report.parameters, [0xD5, p as usize, 2, 0]);
}

#[test]
fn release_without_any_acquire_is_0xd5() {
    let kernel = Kernel::new();
    let mut l = new_lock();
    let p: PIO_REMOVE_LOCK = &mut *l;
    let bug = kernel.catch(|| {
        kernel.run(|| unsafe {
            IoInitializeRemoveLock(p, 0, 0, 0);
            IoReleaseRemoveLock(p, tag(1));
        })
    });
    assert_eq!(bug.unwrap_err().0.rule, Rule::RemoveLockReleaseUnheld);
}

#[test]
fn release_and_wait_with_another_tag_is_0xd6() {
    let kernel = Kernel::new();
    let mut l = new_lock();
    let p: PIO_REMOVE_LOCK = &mut *l;
    let bug = kernel.catch(|| {
        kernel.run(|| unsafe {
            IoInitializeRemoveLock(p, 0, 0, 0);
            assert_eq!(IoAcquireRemoveLock(p, tag(7)), STATUS_SUCCESS);
            IoReleaseRemoveLockAndWait(p, tag(8));
        })
    });
    let report = bug.unwrap_err().0;
    assert_eq!(report.rule.stop_code(), StopCode::sub(0xC4, 0xD6));
    assert_eq!(report.parameters, [0xD6, p as usize, 8, 7]);
}

#[test]
fn reinitialising_after_release_and_wait_is_0xd7() {
    let kernel = Kernel::new();
    let mut l = new_lock();
    let p: PIO_REMOVE_LOCK = &mut *l;
    let bug = kernel.catch(|| {
        kernel.run(|| unsafe {
            IoInitializeRemoveLock(p, 0, 0, 0);
            assert_eq!(IoAcquireRemoveLock(p, tag(1)), STATUS_SUCCESS);
            IoReleaseRemoveLockAndWait(p, tag(1));
            IoInitializeRemoveLock(p, 0, 0, 0);
        })
    });
    let report = bug.unwrap_err().0;
    assert_eq!(report.rule, Rule::RemoveLockReinitialized);
    assert_eq!(report.rule.stop_code(), StopCode::sub(0xC4, 0xD7));
}

#[test]
fn release_and_wait_twice_is_reported() {
    let kernel = Kernel::new();
    let mut l = new_lock();
    let p: PIO_REMOVE_LOCK = &mut *l;
    kernel.run(|| unsafe {
        IoInitializeRemoveLock(p, 0, 0, 0);
        assert_eq!(IoAcquireRemoveLock(p, tag(1)), STATUS_SUCCESS);
        IoReleaseRemoveLockAndWait(p, tag(1));
        IoReleaseRemoveLockAndWait(p, tag(1)); // returns at once: nothing left to wait for
    });
    let reports = kernel.take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].rule, Rule::RemoveLockWaitTwice);
}

#[test]
fn a_lock_never_initialized_is_reported() {
    let kernel = Kernel::new();
    let mut l = new_lock();
    let p: PIO_REMOVE_LOCK = &mut *l;
    let status = kernel.run(|| unsafe { IoAcquireRemoveLock(p, tag(1)) });
    assert_eq!(status, STATUS_DELETE_PENDING);
    assert!(kernel.was_reported(Rule::RemoveLockUninitialized));
}

#[test]
fn acquire_above_dispatch_is_reported() {
    let kernel = Kernel::new();
    let mut l = new_lock();
    let p: PIO_REMOVE_LOCK = &mut *l;
    let bug = kernel.catch(|| {
        kernel.run(|| unsafe {
            IoInitializeRemoveLock(p, 0, 0, 0);
            let old = KfRaiseIrql(HIGH_LEVEL as KIRQL);
            let _ = IoAcquireRemoveLock(p, tag(1));
            KeLowerIrql(old);
        })
    });
    assert_eq!(bug.unwrap_err().0.rule, Rule::IrqlTooHigh);
}

#[test]
fn release_and_wait_with_an_acquisition_never_released_is_reported_not_hung() {
    // Windows would wait for ever; the simulator waits its limit and stops the scenario with
    // the tags still held.
    let kernel = Kernel::new();
    kernel.remove_lock_wait_limit(Duration::from_millis(100));
    let mut l = new_lock();
    let p: PIO_REMOVE_LOCK = &mut *l;
    let result = kernel.catch(|| {
        kernel.run(|| unsafe {
            IoInitializeRemoveLock(p, 0, 0, 0);
            assert_eq!(IoAcquireRemoveLock(p, tag(7)), STATUS_SUCCESS); // never released
            assert_eq!(IoAcquireRemoveLock(p, tag(1)), STATUS_SUCCESS);
            IoReleaseRemoveLockAndWait(p, tag(1));
        })
    });
    let check = result.expect_err("the wait is reported");
    assert_eq!(check.0.rule, Rule::RemoveLockWaitHang);
    assert!(check.0.message.contains("0x7"), "{}", check.0.message);
}
