//! Spin locks held for the length of a closure, and the [`Unlocked`] capability that keeps
//! IRPs from being completed under them.
//!
//! Locking is closure-scoped: [`SpinLock::with`] acquires, runs the closure, and releases.
//! There is no guard in the driver's hands, so there is nothing to `mem::forget`: a leaked
//! guard would end the borrow of the [`Unlocked`] proof while the lock stays held, and let
//! safe code complete an IRP (or return from its callback) at DISPATCH_LEVEL holding the lock.
//! See `docs/soundness.md` for the decision and its cost.

use core::cell::UnsafeCell;
use core::marker::PhantomData;

use wdm_sys::ntddk::{KeAcquireSpinLockRaiseToDpc, KeReleaseSpinLock};
use wdm_sys::{KIRQL, KSPIN_LOCK};

/// Proof that the code holding it holds no spin lock (SDV SpinLockSafe).
///
/// Completing an IRP ([`Irp::complete`](crate::Irp::complete), [`PendingIrp::complete`](crate::PendingIrp::complete)),
/// finishing a StartIo packet (IoStartNextPacket), starting one (IoStartPacket may run StartIo at
/// once) and queueing one (a cancelled IRP is completed at once) run other drivers' code, so
/// they must not happen under a spin lock. They take `&Unlocked`; acquiring a lock
/// ([`SpinLock::with`], [`CancelLock::with`](crate::CancelLock::with)) borrows the
/// `&mut Unlocked` for the whole closure the lock is held for. So under a lock the proof
/// cannot be shown, and completing there does not compile (E0499/E0502 on `cx`: "you are
/// holding a spin lock").
///
/// Nobody outside the framework can make one: every callback that may complete IRPs (dispatch
/// handlers, StartIo, timer DPCs, work items, completion routines) is lent one, and a Cancel
/// routine gets it back from [`CancelLockReleased::unlocked`](crate::CancelLockReleased::unlocked)
/// once it has released the cancel lock. It is neither `Send` nor `Sync`: it stays with the
/// callback.
///
/// ```compile_fail
/// use wdm::{Irp, Outcome, SpinLock, Status, Unlocked};
///
/// fn handler<'irp>(count: &SpinLock<u32>, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///     count.with(cx, |n| {
///         *n += 1;
///         irp.complete(Status::SUCCESS, cx).into() // error: `cx` is borrowed by the lock
///     })
/// }
/// ```
///
/// The lock must be released first:
///
/// ```
/// use wdm::{Irp, Outcome, SpinLock, Status, Unlocked};
///
/// fn handler<'irp>(count: &SpinLock<u32>, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///     count.with(cx, |n| *n += 1); // released when the closure returns
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
/// [`with`](SpinLock::with) raises to DISPATCH_LEVEL, acquires the lock, runs a closure on the
/// value and releases the lock, restoring the IRQL (SDV SpinLock, SpinlockRelease,
/// IrqlKeReleaseSpinLock). The lock cannot stay held past the closure, be released twice, or
/// be released on another processor: the framework releases it, and there is no guard to
/// leak, send or keep.
///
/// Locking borrows the caller's [`Unlocked`] proof for the closure, so nothing that needs it
/// (completing an IRP, starting the next StartIo packet, an [`IrpQueue`](crate::IrpQueue)
/// operation) compiles under the lock (SDV SpinLockSafe), and a second lock cannot be taken
/// inside the first: driver code holds one spin lock at a time, which rules out re-acquiring a
/// held lock (0xF) and lock-order deadlocks between the driver's locks.
///
/// ```
/// use wdm::{SpinLock, Unlocked};
///
/// struct Stats {
///     completed: SpinLock<u64>,
/// }
///
/// fn count(stats: &Stats, cx: &mut Unlocked) -> u64 {
///     stats.completed.with(cx, |n| {
///         *n += 1; // at DISPATCH_LEVEL, holding the lock
///         *n
///     }) // released, previous IRQL restored
/// }
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

    /// Raises to DISPATCH_LEVEL, acquires the lock (KeAcquireSpinLock), runs `f` on the value,
    /// then releases the lock and restores the IRQL (also if `f` unwinds, as a simulated bug
    /// check does). `cx` is borrowed for the whole call: nothing in `f` can complete an IRP or
    /// take another lock.
    ///
    /// ```
    /// use wdm::{SpinLock, Unlocked};
    ///
    /// fn next_sequence(sequence: &SpinLock<u32>, cx: &mut Unlocked) -> u32 {
    ///     sequence.with(cx, |s| {
    ///         *s += 1;
    ///         *s
    ///     })
    /// }
    /// ```
    pub fn with<R>(&self, _cx: &mut Unlocked, f: impl FnOnce(&mut T) -> R) -> R {
        let mut guard = self.lock_internal();
        f(guard.value())
    }

    /// The value's address, straight from the `UnsafeCell`: for intrusive links into the value
    /// (an [`IrpQueue`](crate::IrpQueue)'s list head), which must not carry the tag of a
    /// guard's `&mut T` (every later lock makes a new one, which would invalidate them).
    /// Access through it only while the lock is held, or before the value is shared.
    pub(crate) fn data_ptr(&self) -> *mut T {
        self.value.get()
    }

    /// Acquires the lock without the caller's proof: for the framework's own short critical
    /// sections, which complete nothing, take no driver lock and run no driver code.
    pub(crate) fn lock_internal(&self) -> Guard<'_, T> {
        // SAFETY: a valid, initialized lock word; the caller is at or below DISPATCH_LEVEL,
        // the only levels Rust driver code runs at outside an ISR.
        let old = unsafe { KeAcquireSpinLockRaiseToDpc(self.lock.get()) };
        Guard {
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

/// The framework's own hold on a [`SpinLock`]; releases it and restores the IRQL when dropped.
/// Never handed to driver code.
pub(crate) struct Guard<'a, T> {
    lock: &'a SpinLock<T>,
    old: KIRQL,
    _not_send: PhantomData<*mut ()>,
}

impl<T> Guard<'_, T> {
    fn value(&mut self) -> &mut T {
        // SAFETY: the lock is held, and this guard is the only way to the value.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> core::ops::Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held: no other processor touches the value.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> core::ops::DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value()
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: we hold the lock; the IRQL is the one its acquisition returned.
        unsafe { KeReleaseSpinLock(self.lock.lock.get(), self.old) };
    }
}
