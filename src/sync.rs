//! Spin locks whose guards restore the IRQL.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use wdm_sys::ntddk::{KeAcquireSpinLockRaiseToDpc, KeReleaseSpinLock};
use wdm_sys::{KIRQL, KSPIN_LOCK};

use crate::irql::DispatchLevel;

/// Data protected by a kernel spin lock (`KSPIN_LOCK`).
///
/// [`lock`](SpinLock::lock) raises to DISPATCH_LEVEL and returns a guard that remembers the
/// previous IRQL; dropping the guard releases the lock and restores it (SDV SpinLock,
/// SpinlockRelease, IrqlKeReleaseSpinLock). The guard cannot be released twice, cannot outlive
/// the lock, and cannot move to another processor (it is not `Send`).
///
/// Taking the same lock twice on one processor deadlocks on Windows; the type system does not
/// prevent it (the simulator reports it as 0xF).
///
/// ```
/// use wdm::SpinLock;
///
/// struct Stats {
///     completed: SpinLock<u64>,
/// }
///
/// fn count(stats: &Stats) -> u64 {
///     let mut n = stats.completed.lock(); // at DISPATCH_LEVEL from here
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
    pub const fn new(value: T) -> Self {
        Self {
            lock: UnsafeCell::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// Raises to DISPATCH_LEVEL and acquires the lock (KeAcquireSpinLock).
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        // SAFETY: a valid, initialized lock word; the caller is at or below DISPATCH_LEVEL,
        // the only levels Rust driver code runs at outside an ISR.
        let old = unsafe { KeAcquireSpinLockRaiseToDpc(self.lock.get()) };
        SpinLockGuard {
            lock: self,
            old,
            _not_send: PhantomData,
        }
    }

    /// The value, through exclusive access (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

/// Holds a [`SpinLock`]; releases it and restores the IRQL when dropped.
#[must_use = "dropping the guard releases the lock at once"]
pub struct SpinLockGuard<'a, T> {
    lock: &'a SpinLock<T>,
    old: KIRQL,
    _not_send: PhantomData<*mut ()>,
}

impl<T> SpinLockGuard<'_, T> {
    /// While a spin lock is held the processor runs at DISPATCH_LEVEL.
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
