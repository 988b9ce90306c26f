//! Spin locks whose guards restore the IRQL, and the [`Unlocked`] capability that keeps
//! IRPs from being completed under them.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use wdm_sys::ntddk::{KeAcquireSpinLockRaiseToDpc, KeReleaseSpinLock};
use wdm_sys::{KIRQL, KSPIN_LOCK};

use crate::irql::DispatchLevel;

/// Proof that the code holding it holds no spin lock (SDV SpinLockSafe).
///
/// Completing an IRP ([`Irp::complete`](crate::Irp::complete), [`PendingIrp::complete`](crate::PendingIrp::complete)),
/// finishing a StartIo packet (IoStartNextPacket), starting one (IoStartPacket may run StartIo at
/// once) and queueing one (a cancelled IRP is completed at once) run other drivers' code, so
/// they must not happen under a spin lock. They take `&Unlocked`; acquiring a lock
/// ([`SpinLock::lock`], [`CancelLock::acquire`](crate::CancelLock::acquire)) borrows the
/// `&mut Unlocked` for as long as its guard lives. So while a guard is alive the proof cannot
/// be shown, and completing under a lock does not compile.
///
/// Nobody outside the framework can make one: every callback that may complete IRPs (dispatch
/// handlers, StartIo, timer DPCs, work items, completion routines) is lent one, and a Cancel
/// routine gets it back from [`CancelLockReleased::unlocked`](crate::CancelLockReleased::unlocked)
/// once it has released the cancel lock. It is neither `Send` nor `Sync`: it stays with the
/// callback.
///
/// ```compile_fail,E0502
/// use wdm::{Irp, Outcome, SpinLock, Status, Unlocked};
///
/// fn handler<'irp>(count: &SpinLock<u32>, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///     let mut n = count.lock(cx);
///     *n += 1;
///     irp.complete(Status::SUCCESS, cx).into() // error: `cx` is borrowed by the guard
/// }
/// ```
///
/// The guard must go first:
///
/// ```
/// use wdm::{Irp, Outcome, SpinLock, Status, Unlocked};
///
/// fn handler<'irp>(count: &SpinLock<u32>, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///     *count.lock(cx) += 1; // the guard is dropped at the end of the statement
///     irp.complete(Status::SUCCESS, cx).into()
/// }
/// ```
pub struct Unlocked {
    _not_send: PhantomData<*mut ()>,
}

impl Unlocked {
    /// # Safety
    /// The caller holds no spin lock, and hands the value only to code that may complete IRPs
    /// (a framework callback) for the duration of the call.
    pub(crate) unsafe fn new() -> Self {
        Unlocked { _not_send: PhantomData }
    }
}

/// Data protected by a kernel spin lock (`KSPIN_LOCK`).
///
/// [`lock`](SpinLock::lock) raises to DISPATCH_LEVEL and returns a guard that remembers the
/// previous IRQL; dropping the guard releases the lock and restores it (SDV SpinLock,
/// SpinlockRelease, IrqlKeReleaseSpinLock). The guard cannot be released twice, cannot outlive
/// the lock, and cannot move to another processor (it is not `Send`).
///
/// Locking borrows the caller's [`Unlocked`] proof, so nothing that needs it (completing an
/// IRP, starting the next StartIo packet) compiles while the guard lives (SDV SpinLockSafe),
/// and a second lock cannot be taken inside the first: driver code holds one spin lock at a
/// time, which rules out re-acquiring a held lock (0xF) and lock-order deadlocks between the
/// driver's locks. The framework's own short critical sections (an [`IrpQueue`](crate::IrpQueue)'s
/// lock) may nest inside a driver's lock, never the other way round: a queue's predicates run
/// under its lock while the call borrows the proof, so they cannot lock.
///
/// ```
/// use wdm::{SpinLock, Unlocked};
///
/// struct Stats {
///     completed: SpinLock<u64>,
/// }
///
/// fn count(stats: &Stats, cx: &mut Unlocked) -> u64 {
///     let mut n = stats.completed.lock(cx); // at DISPATCH_LEVEL from here
///     *n += 1;
///     *n
/// } // released, previous IRQL restored
/// ```
pub struct SpinLock<T> {
    lock: UnsafeCell<KSPIN_LOCK>,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through the lock, which excludes other processors.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves the value; nothing refers to an unlocked lock's address.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A new, unlocked lock (KeInitializeSpinLock sets the word to 0).
    ///
    /// ```
    /// use wdm::SpinLock;
    ///
    /// struct Counters {
    ///     opened: SpinLock<u32>, // in the driver's state, shared by every processor
    /// }
    ///
    /// let c = Counters { opened: SpinLock::new(0) };
    /// let _ = c;
    /// ```
    pub const fn new(value: T) -> Self {
        Self {
            lock: UnsafeCell::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// Raises to DISPATCH_LEVEL and acquires the lock (KeAcquireSpinLock). The guard borrows
    /// `cx` until it is dropped.
    ///
    /// ```
    /// use wdm::{SpinLock, Unlocked};
    ///
    /// fn next_sequence(sequence: &SpinLock<u32>, cx: &mut Unlocked) -> u32 {
    ///     let mut s = sequence.lock(cx);
    ///     *s += 1;
    ///     *s
    /// }
    /// ```
    pub fn lock<'a>(&'a self, _cx: &'a mut Unlocked) -> SpinLockGuard<'a, T> {
        self.lock_internal()
    }

    /// Acquires the lock without the caller's proof: for the framework's own short critical
    /// sections, which complete nothing and take no other lock.
    pub(crate) fn lock_internal(&self) -> SpinLockGuard<'_, T> {
        // SAFETY: a valid, initialized lock word; the caller is at or below DISPATCH_LEVEL,
        // the only levels Rust driver code runs at outside an ISR.
        let old = unsafe { KeAcquireSpinLockRaiseToDpc(self.lock.get()) };
        SpinLockGuard {
            lock: self,
            old,
            _not_send: PhantomData,
        }
    }

    /// The value, through exclusive access (no locking needed: in `init`, `unload`, `Drop`).
    ///
    /// ```
    /// use wdm::SpinLock;
    ///
    /// let mut lock = SpinLock::new(1);
    /// *lock.get_mut() += 1;
    /// assert_eq!(*lock.get_mut(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

/// Holds a [`SpinLock`]; releases it and restores the IRQL when dropped. It borrows the
/// [`Unlocked`] proof it was acquired with, so no IRP can be completed while it lives.
///
/// ```
/// use wdm::{SpinLock, Unlocked};
///
/// fn double(lock: &SpinLock<u32>, cx: &mut Unlocked) {
///     let mut value = lock.lock(cx);
///     *value *= 2;
///     drop(value); // released here, IRQL restored; `cx` is free again
/// }
/// ```
#[must_use = "dropping the guard releases the lock at once"]
pub struct SpinLockGuard<'a, T> {
    lock: &'a SpinLock<T>,
    old: KIRQL,
    _not_send: PhantomData<*mut ()>,
}

impl<T> SpinLockGuard<'_, T> {
    /// While a spin lock is held the processor runs at DISPATCH_LEVEL: the proof, for calls
    /// that need that level and are allowed under a lock.
    ///
    /// ```
    /// use wdm::{DispatchLevel, SpinLock, Unlocked};
    ///
    /// fn needs_dispatch(_: &DispatchLevel) {}
    ///
    /// fn f(lock: &SpinLock<()>, cx: &mut Unlocked) {
    ///     let guard = lock.lock(cx);
    ///     needs_dispatch(guard.dispatch());
    /// }
    /// ```
    pub fn dispatch(&self) -> &DispatchLevel {
        // SAFETY: holding a KeAcquireSpinLock lock means DISPATCH_LEVEL until the guard drops,
        // and the token's borrow cannot outlive the guard.
        unsafe { DispatchLevel::assume() }
    }
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held: no other processor touches the value.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the lock is held, and this guard is the only way to the value.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: we hold the lock; the IRQL is the one its acquisition returned.
        unsafe { KeReleaseSpinLock(self.lock.lock.get(), self.old) };
    }
}
