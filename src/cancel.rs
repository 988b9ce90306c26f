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

use core::marker::PhantomData;

use wdm_sys::KIRQL;
use wdm_sys::ntddk::{IoAcquireCancelSpinLock, IoReleaseCancelSpinLock};

use crate::irql::DispatchLevel;

type Brand<'c> = PhantomData<fn(&'c ()) -> &'c ()>;

/// Holds the cancel spin lock; releases it with the IRQL saved at acquisition.
#[must_use = "the cancel spin lock is released when the guard is dropped or released"]
pub struct CancelLock<'c> {
    irql: KIRQL,
    released: bool,
    _brand: Brand<'c>,
    _not_send: PhantomData<*mut ()>,
}

/// Proof that a Cancel routine released the cancel spin lock.
#[must_use = "a Cancel routine returns this proof"]
pub struct CancelLockReleased<'c> {
    _brand: Brand<'c>,
}

impl<'c> CancelLock<'c> {
    /// The guard for the lock the I/O manager holds when it calls a Cancel routine.
    ///
    /// # Safety
    /// The caller holds the cancel spin lock, acquired with `irql` saved (Irp->CancelIrql).
    pub(crate) unsafe fn held(irql: KIRQL) -> Self {
        Self {
            irql,
            released: false,
            _brand: PhantomData,
            _not_send: PhantomData,
        }
    }

    /// Acquires the cancel spin lock (IoAcquireCancelSpinLock), raising to DISPATCH_LEVEL.
    ///
    /// ```
    /// use wdm::CancelLock;
    ///
    /// fn with_cancel_lock() {
    ///     let lock = CancelLock::acquire();
    ///     // ... look at IRPs whose cancel state only changes under the cancel lock ...
    ///     let _released = lock.release(); // or drop it: released with the saved IRQL
    /// }
    /// ```
    pub fn acquire() -> CancelLock<'static> {
        let mut irql = 0;
        // SAFETY: a writable IRQL; callers run at or below DISPATCH_LEVEL.
        unsafe { IoAcquireCancelSpinLock(&mut irql) };
        CancelLock {
            irql,
            released: false,
            _brand: PhantomData,
            _not_send: PhantomData,
        }
    }

    /// While the cancel spin lock is held the processor runs at DISPATCH_LEVEL.
    pub fn dispatch(&self) -> &DispatchLevel {
        // SAFETY: holding the cancel spin lock means DISPATCH_LEVEL until it is released, and
        // the borrow cannot outlive the guard.
        unsafe { DispatchLevel::assume() }
    }

    /// Releases the lock (IoReleaseCancelSpinLock with the saved IRQL) and returns the proof.
    pub fn release(mut self) -> CancelLockReleased<'c> {
        self.unlock();
        CancelLockReleased { _brand: PhantomData }
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
