//! The cancel spin lock, as a guard.
//!
//! A Cancel routine is entered holding the cancel spin lock, which the I/O manager acquired,
//! and must release it exactly once with `Irp->CancelIrql` (SDV CancelSpinLock,
//! CancelSpinlockRelease). Here the routine receives a [`CancelLock`] guard that holds that
//! IRQL, and must return a [`CancelLockReleased`] proof that only [`CancelLock::release`]
//! makes: so it cannot return still holding the lock (0x11B), cannot release twice (release
//! consumes the guard), cannot keep the guard past the callback (it is branded with the
//! callback's lifetime), and cannot send it to another processor (it is not `Send`). Dropping
//! the guard also releases it. Outside a Cancel routine, [`CancelLock::acquire`] gives the same
//! guard.
//!
//! The cancel spin lock is a spin lock like any other for SDV SpinLockSafe: nothing may be
//! completed while it is held. [`CancelLock::acquire`] borrows the caller's [`Unlocked`] proof,
//! and a Cancel routine gets its proof only from [`CancelLockReleased::unlocked`], after
//! releasing.

use core::marker::PhantomData;

use wdm_sys::KIRQL;
use wdm_sys::ntddk::{IoAcquireCancelSpinLock, IoReleaseCancelSpinLock};

use crate::Unlocked;
use crate::irql::DispatchLevel;

type Brand<'c> = PhantomData<fn(&'c ()) -> &'c ()>;

/// Holds the cancel spin lock; releases it with the IRQL saved at acquisition.
///
/// In a Cancel routine (see [`CancelRoutine`](crate::start_io::CancelRoutine)):
///
/// ```
/// use wdm::start_io::CancelledIrp;
/// use wdm::{CancelLock, CancelLockReleased, Status};
///
/// fn cancel<'c>(irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
///     let removed = irp.remove(&lock); // needs the lock held
///     let mut released = lock.release(); // with Irp->CancelIrql
///     if let Some(irp) = removed {
///         irp.complete(Status::CANCELLED, released.unlocked()); // only after releasing
///     }
///     released
/// }
/// ```
#[must_use = "the cancel spin lock is released when the guard is dropped or released"]
pub struct CancelLock<'c> {
    irql: KIRQL,
    released: bool,
    _brand: Brand<'c>,
    _borrows: PhantomData<&'c mut Unlocked>,
    _not_send: PhantomData<*mut ()>,
}

/// Proof that a Cancel routine released the cancel spin lock. It gives back the [`Unlocked`]
/// proof the lock borrowed, to complete the cancelled IRP with.
///
/// ```
/// use wdm::start_io::CancelledIrp;
/// use wdm::{CancelLock, CancelLockReleased};
///
/// // Only `release` makes the proof a Cancel routine returns.
/// fn cancel<'c>(_irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
///     lock.release()
/// }
/// ```
#[must_use = "a Cancel routine returns this proof"]
pub struct CancelLockReleased<'c> {
    cx: Unlocked,
    _brand: Brand<'c>,
}

impl CancelLockReleased<'_> {
    /// No spin lock is held any more: the proof that completing needs.
    ///
    /// ```
    /// use wdm::{CancelLock, PendingIrp, Status, Unlocked};
    ///
    /// fn cancel_now(irp: PendingIrp, cx: &mut Unlocked) {
    ///     let lock = CancelLock::acquire(cx);
    ///     let mut released = lock.release();
    ///     irp.complete(Status::CANCELLED, released.unlocked());
    /// }
    /// ```
    pub fn unlocked(&mut self) -> &mut Unlocked {
        &mut self.cx
    }
}

impl<'c> CancelLock<'c> {
    /// The guard for the lock the I/O manager holds when it calls a Cancel routine.
    ///
    /// # Safety
    /// The caller holds the cancel spin lock, acquired with `irql` saved (Irp->CancelIrql), and
    /// no other spin lock.
    pub(crate) unsafe fn held(irql: KIRQL) -> Self {
        Self {
            irql,
            released: false,
            _brand: PhantomData,
            _borrows: PhantomData,
            _not_send: PhantomData,
        }
    }

    /// Acquires the cancel spin lock (IoAcquireCancelSpinLock), raising to DISPATCH_LEVEL. The
    /// guard borrows `cx`: nothing is completed while it is held.
    ///
    /// ```
    /// use wdm::{CancelLock, Unlocked};
    ///
    /// fn with_cancel_lock(cx: &mut Unlocked) {
    ///     let lock = CancelLock::acquire(cx);
    ///     // ... look at IRPs whose cancel state only changes under the cancel lock ...
    ///     let _released = lock.release(); // or drop it: released with the saved IRQL
    /// }
    /// ```
    pub fn acquire(_cx: &'c mut Unlocked) -> CancelLock<'c> {
        let mut irql = 0;
        // SAFETY: a writable IRQL; callers run at or below DISPATCH_LEVEL.
        unsafe { IoAcquireCancelSpinLock(&mut irql) };
        CancelLock {
            irql,
            released: false,
            _brand: PhantomData,
            _borrows: PhantomData,
            _not_send: PhantomData,
        }
    }

    /// While the cancel spin lock is held the processor runs at DISPATCH_LEVEL.
    ///
    /// ```
    /// use wdm::{CancelLock, DispatchLevel, Unlocked};
    ///
    /// fn needs_dispatch(_: &DispatchLevel) {}
    ///
    /// fn f(cx: &mut Unlocked) {
    ///     let lock = CancelLock::acquire(cx);
    ///     needs_dispatch(lock.dispatch());
    /// }
    /// ```
    pub fn dispatch(&self) -> &DispatchLevel {
        // SAFETY: holding the cancel spin lock means DISPATCH_LEVEL until it is released, and
        // the borrow cannot outlive the guard.
        unsafe { DispatchLevel::assume() }
    }

    /// Releases the lock (IoReleaseCancelSpinLock with the saved IRQL) and returns the proof.
    ///
    /// ```
    /// use wdm::{CancelLock, Unlocked};
    ///
    /// fn peek(cx: &mut Unlocked) {
    ///     let lock = CancelLock::acquire(cx);
    ///     let _released = lock.release(); // IoReleaseCancelSpinLock(saved IRQL), once
    /// }
    /// ```
    pub fn release(mut self) -> CancelLockReleased<'c> {
        self.unlock();
        CancelLockReleased {
            // SAFETY: the lock is released, and while it was held the caller held no other
            // spin lock (acquiring it borrowed the caller's proof; a Cancel routine is entered
            // holding only this lock).
            cx: unsafe { Unlocked::new() },
            _brand: PhantomData,
        }
    }

    fn unlock(&mut self) {
        if !self.released {
            self.released = true;
            // SAFETY: this guard holds the cancel spin lock, acquired with `irql` saved.
            unsafe { IoReleaseCancelSpinLock(self.irql) };
        }
    }
}

impl Drop for CancelLock<'_> {
    fn drop(&mut self) {
        self.unlock();
    }
}
