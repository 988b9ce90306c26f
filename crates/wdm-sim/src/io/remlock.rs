//! Remove locks: `IoInitializeRemoveLockEx`, `IoAcquireRemoveLockEx`, `IoReleaseRemoveLockEx`,
//! `IoReleaseRemoveLockAndWaitEx` (pnp-power.md §5).
//!
//! The lock itself is the free layout of IO_REMOVE_LOCK (`Common`: Removed, IoCount with its
//! bias of 1, RemoveEvent), kept exactly as ntoskrnl keeps it, so a driver that peeks at it sees
//! the real values. Beside it the simulator keeps what Driver Verifier's shadow lock keeps (§5.2):
//! the tags of the acquisitions outstanding and whether ReleaseAndWait has run, and checks every
//! call against it (0xC4/0xD5, 0xD6, 0xD7; the misuses with no documented code are warnings).
//! The shadow goes when the memory holding the lock does (IoDeleteDevice of the device whose
//! extension holds it, ExFreePoolWithTag of the block).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};

use wdm_sys::{
    _EVENT_TYPE, _KWAIT_REASON, _MODE, DISPATCH_LEVEL, KIRQL, NTSTATUS, PCSTR, PIO_REMOVE_LOCK, PVOID,
    STATUS_DELETE_PENDING, STATUS_SUCCESS, ULONG,
};

use crate::kernel::{State, current, lock};
use crate::report::Rule;

/// What Driver Verifier's shadow lock knows about one remove lock.
#[derive(Default)]
pub(crate) struct Shadow {
    /// The tags of the acquisitions not yet released, oldest first (tags need not be unique).
    tags: Vec<usize>,
    /// ReleaseAndWait has been called.
    waited: bool,
}

/// The shadows, by lock address.
#[derive(Default)]
pub(crate) struct RemoveLocks {
    locks: HashMap<usize, Shadow>,
}

impl RemoveLocks {
    /// Forgets the locks inside `[start, end)`: their memory is going away.
    pub(crate) fn forget_range(&mut self, start: usize, end: usize) {
        self.locks.retain(|&a, _| a < start || a >= end);
    }
}

/// `IoCount`, atomically: acquisitions and releases race from every processor.
fn count<'a>(l: PIO_REMOVE_LOCK) -> &'a AtomicI32 {
    // SAFETY: callers pass a lock in live memory; only the field's address is computed.
    let p = unsafe { &raw mut (*l).Common.IoCount };
    // SAFETY: an aligned i32, only ever accessed atomically by the simulator.
    unsafe { AtomicI32::from_ptr(p) }
}

/// `Removed`, as an atomic byte: acquires on other processors read it while ReleaseAndWait
/// sets it.
fn removed_flag<'a>(l: PIO_REMOVE_LOCK) -> &'a std::sync::atomic::AtomicU8 {
    // SAFETY: as in `count`.
    let p = unsafe { &raw mut (*l).Common.Removed };
    // SAFETY: a byte, only ever accessed atomically by the simulator.
    unsafe { std::sync::atomic::AtomicU8::from_ptr(p) }
}

fn removed(l: PIO_REMOVE_LOCK) -> bool {
    removed_flag(l).load(Ordering::Acquire) != 0
}

fn event(l: PIO_REMOVE_LOCK) -> wdm_sys::PRKEVENT {
    // SAFETY: as in `count`.
    unsafe { &raw mut (*l).Common.RemoveEvent }
}

fn check_irql(k: &State, routine: &'static str, max: KIRQL, l: PIO_REMOVE_LOCK) {
    let now = crate::irql::get();
    if now > max {
        k.report(
            Rule::IrqlTooHigh,
            routine,
            None,
            [0x20011, usize::from(now), l as usize, 0],
            format!("{routine} at IRQL {now} (at most {max})"),
        );
    }
}

/// The routine's size argument must be one of the two layouts (free: `Common` only; debug:
/// with the tracking block, larger).
fn check_size(k: &State, routine: &'static str, l: PIO_REMOVE_LOCK, size: ULONG) {
    if (size as usize) < size_of::<wdm_sys::IO_REMOVE_LOCK_COMMON_BLOCK>() {
        k.report(
            Rule::InvalidParameter,
            routine,
            None,
            [l as usize, size as usize, 0, 0],
            format!("RemlockSize {size} is smaller than IO_REMOVE_LOCK_COMMON_BLOCK"),
        );
    }
}

/// Decrements the count; reaching 0 signals the event (legal only once Removed is set).
fn drop_count(k: &State, routine: &'static str, l: PIO_REMOVE_LOCK, by: i32) {
    let now = count(l).fetch_sub(by, Ordering::AcqRel) - by;
    if now == 0 {
        if !removed(l) {
            k.report(
                Rule::RemoveLockUnderflow,
                routine,
                None,
                [l as usize, 0, 0, 0],
                "the remove lock's count reached 0 before IoReleaseRemoveLockAndWait (more releases than acquires)"
                    .into(),
            );
        }
        // SAFETY: the lock's own event, initialized by IoInitializeRemoveLockEx.
        unsafe { crate::ke::KeSetEvent(event(l), 0, 0) };
    } else if now < 0 {
        k.report(
            Rule::RemoveLockUnderflow,
            routine,
            None,
            [l as usize, now as u32 as usize, 0, 0],
            format!("the remove lock's count went negative ({now})"),
        );
    }
}

/// `IoInitializeRemoveLockEx` (the `IoInitializeRemoveLock` macro): Removed = FALSE,
/// IoCount = 1 (the bias), the event not signaled. Re-initialising a lock after
/// ReleaseAndWait is 0xC4/0xD7.
///
/// # Safety
/// Kernel routine: `lock` must point to writable memory for an IO_REMOVE_LOCK.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoInitializeRemoveLockEx(
    l: PIO_REMOVE_LOCK,
    _allocate_tag: ULONG,
    _max_locked_minutes: ULONG,
    high_watermark: ULONG,
    size: ULONG,
) {
    let k = current();
    check_irql(k, "IoInitializeRemoveLockEx", 0, l);
    check_size(k, "IoInitializeRemoveLockEx", l, size);
    if high_watermark > 0x7FFF_FFFF {
        k.report(
            Rule::InvalidParameter,
            "IoInitializeRemoveLockEx",
            None,
            [l as usize, high_watermark as usize, 0, 0],
            format!("HighWatermark {high_watermark:#x} is above 0x7FFFFFFF"),
        );
    }
    let mut locks = lock(&k.remlocks);
    if locks.locks.get(&(l as usize)).is_some_and(|s| s.waited) {
        drop(locks);
        k.report(
            Rule::RemoveLockReinitialized,
            "IoInitializeRemoveLockEx",
            None,
            [0xD7, l as usize, 0, 0],
            "remove lock re-initialized after IoReleaseRemoveLockAndWait".into(),
        );
        return;
    }
    locks.locks.insert(l as usize, Shadow::default());
    removed_flag(l).store(0, Ordering::Release);
    count(l).store(1, Ordering::Release);
    drop(locks);
    // SAFETY: the lock's own event.
    unsafe { crate::ke::KeInitializeEvent(event(l), _EVENT_TYPE::NotificationEvent, 0) };
}

/// The shadow of `l`, or a report that it was never initialized.
fn with_shadow<R>(k: &State, routine: &'static str, l: PIO_REMOVE_LOCK, f: impl FnOnce(&mut Shadow) -> R) -> Option<R> {
    let mut locks = lock(&k.remlocks);
    match locks.locks.get_mut(&(l as usize)) {
        Some(s) => Some(f(s)),
        None => {
            drop(locks);
            k.report(
                Rule::RemoveLockUninitialized,
                routine,
                None,
                [l as usize, 0, 0, 0],
                format!("{routine} on a remove lock IoInitializeRemoveLock never initialized"),
            );
            None
        }
    }
}

/// `IoAcquireRemoveLockEx` (the `IoAcquireRemoveLock` macro): one more hold, or
/// STATUS_DELETE_PENDING once ReleaseAndWait has set Removed.
///
/// # Safety
/// Kernel routine: an initialized lock.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoAcquireRemoveLockEx(
    l: PIO_REMOVE_LOCK,
    tag: PVOID,
    _file: PCSTR,
    _line: ULONG,
    size: ULONG,
) -> NTSTATUS {
    let k = current();
    check_irql(k, "IoAcquireRemoveLockEx", DISPATCH_LEVEL as KIRQL, l);
    check_size(k, "IoAcquireRemoveLockEx", l, size);
    let acquired = with_shadow(k, "IoAcquireRemoveLockEx", l, |s| {
        count(l).fetch_add(1, Ordering::AcqRel);
        if removed(l) {
            false
        } else {
            s.tags.push(tag as usize);
            true
        }
    });
    match acquired {
        None => STATUS_DELETE_PENDING,
        Some(true) => STATUS_SUCCESS,
        Some(false) => {
            drop_count(k, "IoAcquireRemoveLockEx", l, 1);
            STATUS_DELETE_PENDING
        }
    }
}

/// `IoReleaseRemoveLockEx` (the `IoReleaseRemoveLock` macro): drops the hold with this tag.
/// A tag with no hold outstanding is 0xC4/0xD5 (p2 the lock, p3 the tag).
///
/// # Safety
/// Kernel routine: an initialized lock.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoReleaseRemoveLockEx(l: PIO_REMOVE_LOCK, tag: PVOID, size: ULONG) {
    let k = current();
    check_irql(k, "IoReleaseRemoveLockEx", DISPATCH_LEVEL as KIRQL, l);
    check_size(k, "IoReleaseRemoveLockEx", l, size);
    let held = with_shadow(k, "IoReleaseRemoveLockEx", l, |s| {
        match s.tags.iter().position(|&t| t == tag as usize) {
            Some(i) => {
                s.tags.remove(i);
                true
            }
            None => false,
        }
    });
    match held {
        None => {}
        Some(true) => drop_count(k, "IoReleaseRemoveLockEx", l, 1),
        Some(false) => k.report(
            Rule::RemoveLockReleaseUnheld,
            "IoReleaseRemoveLockEx",
            None,
            [0xD5, l as usize, tag as usize, 0],
            format!("released tag {tag:p}, which holds no acquisition of the remove lock"),
        ),
    }
}

/// `IoReleaseRemoveLockAndWaitEx` (the `IoReleaseRemoveLockAndWait` macro): sets Removed,
/// drops the caller's hold and the bias, and waits until every other hold is released. The tag
/// must be one still held (0xC4/0xD6, p4 the tag expected); a second call is reported.
///
/// # Safety
/// Kernel routine: an initialized lock, at PASSIVE_LEVEL.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoReleaseRemoveLockAndWaitEx(l: PIO_REMOVE_LOCK, tag: PVOID, size: ULONG) {
    let k = current();
    check_irql(k, "IoReleaseRemoveLockAndWaitEx", 0, l);
    check_size(k, "IoReleaseRemoveLockAndWaitEx", l, size);
    crate::pnp::note_release_and_wait(k, l as usize);
    enum Outcome {
        Twice,
        Mismatch(usize),
        Wait,
    }
    let outcome = with_shadow(k, "IoReleaseRemoveLockAndWaitEx", l, |s| {
        if s.waited {
            return Outcome::Twice;
        }
        let Some(i) = s.tags.iter().position(|&t| t == tag as usize) else {
            return Outcome::Mismatch(s.tags.first().copied().unwrap_or(0));
        };
        s.tags.remove(i);
        s.waited = true;
        removed_flag(l).store(1, Ordering::Release);
        Outcome::Wait
    });
    match outcome {
        None => {}
        Some(Outcome::Twice) => k.report(
            Rule::RemoveLockWaitTwice,
            "IoReleaseRemoveLockAndWaitEx",
            None,
            [l as usize, tag as usize, 0, 0],
            "IoReleaseRemoveLockAndWait called a second time on the same remove lock".into(),
        ),
        Some(Outcome::Mismatch(expected)) => k.report(
            Rule::RemoveLockWaitTagMismatch,
            "IoReleaseRemoveLockAndWaitEx",
            None,
            [0xD6, l as usize, tag as usize, expected],
            format!("IoReleaseRemoveLockAndWait with tag {tag:p}, which holds no acquisition (expected {expected:#x})"),
        ),
        Some(Outcome::Wait) => {
            // The caller's hold, then the bias.
            drop_count(k, "IoReleaseRemoveLockAndWaitEx", l, 1);
            drop_count(k, "IoReleaseRemoveLockAndWaitEx", l, 1);
            // Windows waits for ever; the simulator waits its limit (10 s unless
            // `Kernel::remove_lock_wait_limit` says otherwise) and then reports what still holds
            // the lock, so a leaked acquisition fails the test instead of hanging it.
            let limit = std::time::Duration::from_millis(k.remove_lock_wait_ms.load(Ordering::Relaxed));
            let mut timeout = wdm_sys::LARGE_INTEGER {
                QuadPart: -(limit.as_nanos() as i64 / 100),
            };
            // SAFETY: the lock's own event, set when the count reaches 0; a relative timeout.
            let waited = unsafe {
                crate::ke::KeWaitForSingleObject(
                    event(l).cast(),
                    _KWAIT_REASON::Executive,
                    _MODE::KernelMode as wdm_sys::KPROCESSOR_MODE,
                    0,
                    &mut timeout,
                )
            };
            if waited == wdm_sys::STATUS_TIMEOUT {
                let held: Vec<usize> =
                    with_shadow(k, "IoReleaseRemoveLockAndWaitEx", l, |s| s.tags.clone()).unwrap_or_default();
                k.report(
                    Rule::RemoveLockWaitHang,
                    "IoReleaseRemoveLockAndWaitEx",
                    None,
                    [l as usize, tag as usize, held.len(), 0],
                    format!(
                        "IoReleaseRemoveLockAndWait still waiting after {limit:?}: {} acquisition(s) never released (tags {held:#x?})",
                        held.len()
                    ),
                );
            }
        }
    }
}
