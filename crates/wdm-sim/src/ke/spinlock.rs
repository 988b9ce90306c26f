//! Spin locks: `KSPIN_LOCK` and the cancel spin lock, with the IRQL rules and the pairing
//! rules Driver Verifier and SDV check.
//!
//! A `KSPIN_LOCK` is the driver's own pointer-sized word; the simulator spins on it with an
//! atomic compare-exchange, storing the owner's processor number + 1, so a lock really excludes
//! other simulated processors. Each processor also keeps the list of locks it holds, which the
//! checks read: re-acquiring a held lock (it would deadlock: 0xF), releasing one not held,
//! calling IoCompleteRequest with a lock held, returning from a dispatch or cancel routine with
//! one held, releasing at the wrong IRQL.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use wdm_sys::{DISPATCH_LEVEL, KIRQL, PKIRQL, PKSPIN_LOCK};

use crate::irql;
use crate::kernel::{State, current, processor};
use crate::report::Rule;
use crate::sched;

/// Which routine family took a lock (a lock must be released by the matching one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockKind {
    /// KeAcquireSpinLock(RaiseToDpc): release with KeReleaseSpinLock.
    Raise,
    /// KeAcquireSpinLockAtDpcLevel: release with KeReleaseSpinLockFromDpcLevel.
    AtDpc,
    /// The cancel spin lock.
    Cancel,
}

thread_local! {
    /// The locks this processor holds: (lock word address, how it was taken).
    static HELD: RefCell<Vec<(usize, LockKind)>> = const { RefCell::new(Vec::new()) };
}

/// How many locks this processor holds.
pub(crate) fn held_count() -> usize {
    HELD.with(|h| h.borrow().len())
}

/// Whether this processor holds the lock at `word`.
pub(crate) fn holds(word: usize) -> bool {
    HELD.with(|h| h.borrow().iter().any(|&(w, _)| w == word))
}

/// Forgets every lock this processor holds (after a bug check or panic unwound through their
/// owners).
pub(crate) fn clear_held() {
    HELD.with(|h| h.borrow_mut().clear());
}

fn word<'a>(lock: PKSPIN_LOCK) -> &'a AtomicUsize {
    // SAFETY: a KSPIN_LOCK is a pointer-sized, pointer-aligned word that every holder accesses
    // through these routines; the caller passes a valid lock.
    unsafe { AtomicUsize::from_ptr(lock.cast()) }
}

/// Spins until the lock at `lock` is ours. A processor that already holds it would spin for
/// ever on Windows; here that is SPIN_LOCK_ALREADY_OWNED (0xF).
///
/// While this processor unwinds (a guard's destructor acquiring) it may return without the
/// lock: the 0xF check then reports nothing and the lock is this processor's already, or the
/// machine has stopped and the owner may never release it. The matching release finds it not
/// held, which is not reported then either.
pub(crate) fn acquire(k: &State, lock: PKSPIN_LOCK, kind: LockKind, routine: &'static str) {
    // Another processor may take the lock first.
    sched::preempt(routine);
    let me = processor() as usize + 1;
    let w = word(lock);
    loop {
        // Strong, not weak: a weak exchange may fail spuriously (LL/SC on ARM64; Miri fails
        // it on purpose), and a spurious failure is not contention: taken as one, the
        // exploration would switch away as if the lock were held (and find a false deadlock).
        match w.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => break,
            Err(owner) if owner == me => {
                k.report(
                    Rule::SpinLockAlreadyOwned,
                    routine,
                    None,
                    [lock as usize, 0, 0, 0],
                    format!("acquiring spin lock {lock:p}, which this processor already holds"),
                );
                return;
            }
            Err(_) => {
                if !sched::spin_wait() {
                    return;
                }
            }
        }
    }
    HELD.with(|h| h.borrow_mut().push((lock as usize, kind)));
}

/// Releases the lock at `lock`, checking that this processor holds it, taken the same way.
pub(crate) fn release(k: &State, lock: PKSPIN_LOCK, kind: LockKind, routine: &'static str) {
    let me = processor() as usize + 1;
    let taken = HELD.with(|h| {
        let mut h = h.borrow_mut();
        let at = h.iter().rposition(|&(w, _)| w == lock as usize)?;
        Some(h.remove(at).1)
    });
    match taken {
        None => k.report(
            Rule::SpinLockNotHeld,
            routine,
            None,
            [lock as usize, 0, 0, 0],
            format!("releasing spin lock {lock:p}, which this processor does not hold"),
        ),
        Some(t) if t != kind => k.report(
            Rule::SpinLockMismatchedRelease,
            routine,
            None,
            [lock as usize, 0, 0, 0],
            format!("spin lock {lock:p} was taken with the {t:?} routine and released with {routine}"),
        ),
        Some(_) => {}
    }
    // Only the owner clears the word (a bad release above gets here only while unwinding).
    let _ = word(lock).compare_exchange(me, 0, Ordering::Release, Ordering::Relaxed);
}

fn require_at_most_dispatch(k: &State, routine: &'static str) {
    let now = irql::get();
    if now > DISPATCH_LEVEL as KIRQL {
        k.report(
            Rule::IrqlTooHigh,
            routine,
            None,
            [0x2_0011, usize::from(now), 0, 0],
            format!("{routine} called at IRQL {now}; it requires IRQL <= DISPATCH_LEVEL"),
        );
    }
}

/// Checks that the caller is at exactly DISPATCH_LEVEL (SDV IrqlDispatch).
pub(crate) fn require_dispatch(k: &State, routine: &'static str) {
    let now = irql::get();
    if now != DISPATCH_LEVEL as KIRQL {
        k.report(
            Rule::IrqlNotDispatch,
            routine,
            None,
            [0x2_0003, usize::from(now), 0, 0],
            format!("{routine} called at IRQL {now}; it requires IRQL == DISPATCH_LEVEL"),
        );
    }
}

/// Raises to DISPATCH_LEVEL and acquires; returns the previous IRQL.
pub(crate) fn acquire_raise(k: &State, lock: PKSPIN_LOCK, kind: LockKind, routine: &'static str) -> KIRQL {
    require_at_most_dispatch(k, routine);
    let old = irql::get();
    irql::set(DISPATCH_LEVEL as KIRQL);
    acquire(k, lock, kind, routine);
    old
}

/// Releases and lowers to `new_irql`; the caller must be at DISPATCH_LEVEL.
pub(crate) fn release_lower(k: &State, lock: PKSPIN_LOCK, kind: LockKind, new_irql: KIRQL, routine: &'static str) {
    let now = irql::get();
    if now != DISPATCH_LEVEL as KIRQL {
        k.report(
            Rule::ReleaseNotAtDispatch,
            routine,
            None,
            [0x32, usize::from(now), lock as usize, 0],
            format!("{routine} called at IRQL {now}; a spin lock is released at DISPATCH_LEVEL"),
        );
    }
    if new_irql > DISPATCH_LEVEL as KIRQL {
        k.report(
            Rule::IrqlNotLower,
            routine,
            None,
            [0x31, usize::from(now), usize::from(new_irql), 0],
            format!("{routine} would lower IRQL to {new_irql}, above DISPATCH_LEVEL"),
        );
    }
    release(k, lock, kind, routine);
    irql::set(new_irql);
}

/// `KeAcquireSpinLockRaiseToDpc` (what `KeAcquireSpinLock` is on x64).
///
/// # Safety
/// Kernel routine: `lock` must be a valid, initialized spin lock.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeAcquireSpinLockRaiseToDpc(lock: PKSPIN_LOCK) -> KIRQL {
    acquire_raise(current(), lock, LockKind::Raise, "KeAcquireSpinLockRaiseToDpc")
}

/// `KeReleaseSpinLock`.
///
/// # Safety
/// Kernel routine: `lock` must be held by the caller.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeReleaseSpinLock(lock: PKSPIN_LOCK, new_irql: KIRQL) {
    release_lower(current(), lock, LockKind::Raise, new_irql, "KeReleaseSpinLock");
}

/// `KeAcquireSpinLockAtDpcLevel`: the caller is already at DISPATCH_LEVEL (0xC4/0x40 if below).
///
/// # Safety
/// Kernel routine: `lock` must be a valid, initialized spin lock.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeAcquireSpinLockAtDpcLevel(lock: PKSPIN_LOCK) {
    let k = current();
    let now = irql::get();
    if now < DISPATCH_LEVEL as KIRQL {
        k.report(
            Rule::AcquireAtDpcBelowDispatch,
            "KeAcquireSpinLockAtDpcLevel",
            None,
            [0x40, usize::from(now), lock as usize, 0],
            format!("KeAcquireSpinLockAtDpcLevel called at IRQL {now}, below DISPATCH_LEVEL"),
        );
    }
    acquire(k, lock, LockKind::AtDpc, "KeAcquireSpinLockAtDpcLevel");
}

/// `KeReleaseSpinLockFromDpcLevel`.
///
/// # Safety
/// Kernel routine: `lock` must be held by the caller.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeReleaseSpinLockFromDpcLevel(lock: PKSPIN_LOCK) {
    let k = current();
    require_dispatch(k, "KeReleaseSpinLockFromDpcLevel");
    release(k, lock, LockKind::AtDpc, "KeReleaseSpinLockFromDpcLevel");
}

/// `IoAcquireCancelSpinLock`: raises to DISPATCH_LEVEL, takes the one cancel spin lock, and
/// stores the previous IRQL.
///
/// # Safety
/// Kernel routine: `irql` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoAcquireCancelSpinLock(irql: PKIRQL) {
    let k = current();
    let old = acquire_raise(k, k.cancel_lock(), LockKind::Cancel, "IoAcquireCancelSpinLock");
    // SAFETY: `irql` is writable (caller's contract).
    unsafe { irql.write(old) };
}

/// `IoReleaseCancelSpinLock`.
#[unsafe(no_mangle)]
pub extern "C-unwind" fn IoReleaseCancelSpinLock(irql: KIRQL) {
    let k = current();
    release_lower(k, k.cancel_lock(), LockKind::Cancel, irql, "IoReleaseCancelSpinLock");
}
