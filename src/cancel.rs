//! The cancel spin lock, as a guard.
//!
//! A Cancel routine is entered holding the cancel spin lock, which the I/O manager acquired,
//! and must release it exactly once with `Irp->CancelIrql` (SDV CancelSpinLock,
//! CancelSpinlockRelease). Here the routine receives a [`CancelLock`] guard that holds that
//! IRQL, and must return a [`CancelLockReleased`] proof that only [`CancelLock::release`]
//! makes: so it cannot return still holding the lock (0x11B), cannot release twice (release
//! consumes the guard), cannot keep the guard past the callback (it is branded with the
//! callback's lifetime), and cannot send it to another processor (it is not `Send`). Dropping
//! the guard also releases it, and forgetting it leaves the routine without the proof it must
//! return. Outside a Cancel routine, [`CancelLock::with`] holds the lock for the length of a
//! closure: the framework releases it, so there is no guard to forget.
//!
//! The cancel spin lock is a spin lock like any other for SDV SpinLockSafe: nothing may be
//! completed while it is held. [`CancelLock::with`] borrows the caller's [`Unlocked`] proof,
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
///     // Removing needs the lock held, and releases it (with Irp->CancelIrql).
///     let (removed, mut released) = irp.remove(lock);
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
    /// use wdm::start_io::CancelledIrp;
    /// use wdm::{CancelLock, CancelLockReleased, Status};
    ///
    /// fn cancel<'c>(irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
    ///     let (removed, mut released) = irp.remove(lock);
    ///     if let Some(irp) = removed {
    ///         irp.complete(Status::CANCELLED, released.unlocked());
    ///     }
    ///     released
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

    /// Holds the cancel spin lock (IoAcquireCancelSpinLock, raising to DISPATCH_LEVEL) for the
    /// length of `f`, then releases it with the saved IRQL (also if `f` unwinds). `cx` is
    /// borrowed for the whole call: nothing is completed while the lock is held. `f` gets the
    /// guard by reference, so it can neither release it early nor keep it.
    ///
    /// ```
    /// use wdm::{CancelLock, Unlocked};
    ///
    /// fn with_cancel_lock(cx: &mut Unlocked) {
    ///     CancelLock::with(cx, |lock| {
    ///         // ... look at IRPs whose cancel state only changes under the cancel lock ...
    ///         let _level = lock.dispatch(); // at DISPATCH_LEVEL here
    ///     }); // released with the saved IRQL
    /// }
    /// ```
    pub fn with<R>(_cx: &mut Unlocked, f: impl for<'x> FnOnce(&CancelLock<'x>) -> R) -> R {
        // SAFETY: the caller's proof says it holds no spin lock, so the cancel lock is not held
        // by this processor; the guard is released when it drops, after `f`.
        let lock = unsafe { CancelLock::acquire_raw() };
        f(&lock)
    }

    /// Holds the cancel spin lock for `f`, for the framework's own short critical sections
    /// (which complete nothing and run no driver code).
    pub(crate) fn with_internal<R>(f: impl FnOnce() -> R) -> R {
        // SAFETY: framework code calls this holding no spin lock (its callers are entered
        // holding none and take this before any other).
        let lock = unsafe { CancelLock::acquire_raw() };
        let r = f();
        drop(lock);
        r
    }

    /// # Safety
    /// The caller must not hold the cancel spin lock or any spin lock acquired after it.
    unsafe fn acquire_raw() -> CancelLock<'c> {
        let mut irql = 0;
        // SAFETY: a writable IRQL; callers run at or below DISPATCH_LEVEL and do not hold
        // the cancel lock (caller).
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
    ///     CancelLock::with(cx, |lock| needs_dispatch(lock.dispatch()));
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
    /// use wdm::start_io::CancelledIrp;
    /// use wdm::{CancelLock, CancelLockReleased};
    ///
    /// fn cancel<'c>(_irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
    ///     lock.release() // IoReleaseCancelSpinLock(Irp->CancelIrql), once
    /// }
    /// ```
    pub fn release(mut self) -> CancelLockReleased<'c> {
        self.unlock();
        CancelLockReleased {
            // SAFETY: the lock is released, and while it was held the caller held no other
            // spin lock: only a Cancel routine owns a `CancelLock` by value (`with` lends it by
            // reference), and a Cancel routine is entered holding only this lock.
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
