//! Deferred work that calls back into the driver's state (timer DPCs, work items) must be over
//! before that state is dropped at unload, whatever order the driver declared its fields in.
//!
//! Every [`Timer`](crate::Timer) and [`WorkItem`](crate::WorkItem) registers itself with its
//! driver's registry. Unload then, after `Driver::unload` and before dropping the state:
//! 1. marks the driver as unloading, so no timer can be set and no work item queued again
//!    (under the registry lock, so a `set` racing with this either happened before or is refused);
//! 2. cancels every timer and dequeues its DPC;
//! 3. waits for DPCs already running (KeFlushQueuedDpcs) and for every work item to be idle.
//!
//! A driver without timers or work items pays nothing for this: the registry is allocated by
//! the first `Timer::new` or `WorkItem::new`, and unload runs the sequence only if there is one,
//! so the code is linked only into drivers that use them.

use core::cell::Cell;
use core::ptr::NonNull;

use wdm_sys::ntddk::KeFlushQueuedDpcs;

use crate::SpinLock;

/// A member of the registry's list.
pub(crate) type Member = NonNull<dyn Deferred>;

/// Something deferred that the registry stops and waits for.
pub(crate) trait Deferred {
    /// Stops it from firing again (at DISPATCH_LEVEL, under the registry lock).
    fn stop(&self);
    /// Waits until its callback is not running (at PASSIVE_LEVEL).
    fn wait_idle(&self);
    /// Whether it runs as a DPC (the registry then flushes DPCs at unload).
    fn is_dpc(&self) -> bool;
    /// The next member: the list is intrusive, so registering allocates nothing.
    fn next(&self) -> &Cell<Option<Member>>;
}

struct Inner {
    unloading: bool,
    head: Option<Member>,
}

/// A driver's deferred objects.
pub(crate) struct Registry {
    inner: SpinLock<Inner>,
    /// [`Registry::stop_and_wait`], called through this pointer so that unload, which runs for
    /// every driver, only links the sequence when a registry was ever made.
    quiesce: fn(&Registry),
}

// SAFETY: the members are pool-block objects of `Send + Sync` timers and work items, only linked and
// unlinked under the lock.
unsafe impl Send for Inner {}

/// Calls `f` for every member from `first` on.
///
/// # Safety
/// Every member must stay valid for the walk (the lock is held, or members are not removed).
unsafe fn walk(first: Option<Member>, mut f: impl FnMut(&dyn Deferred)) {
    let mut at = first;
    while let Some(m) = at {
        // SAFETY: the caller's contract.
        let member = unsafe { m.as_ref() };
        at = member.next().get();
        f(member);
    }
}

impl Registry {
    pub(crate) fn new() -> Self {
        Self {
            inner: SpinLock::new(Inner {
                unloading: false,
                head: None,
            }),
            quiesce: Self::stop_and_wait,
        }
    }

    /// Adds `member`, which stays valid until [`remove`](Self::remove). Called during init.
    pub(crate) fn add(&self, member: Member) {
        let mut inner = self.inner.lock_internal();
        // SAFETY: the member is valid (caller) and not yet linked.
        unsafe { member.as_ref() }.next().set(inner.head);
        inner.head = Some(member);
    }

    /// Removes `member`.
    pub(crate) fn remove(&self, member: Member) {
        let mut inner = self.inner.lock_internal();
        // SAFETY: the member is valid until it is removed (caller).
        let after = unsafe { member.as_ref() }.next().get();
        if inner
            .head
            .is_some_and(|h| core::ptr::addr_eq(h.as_ptr(), member.as_ptr()))
        {
            inner.head = after;
            return;
        }
        let mut at = inner.head;
        while let Some(m) = at {
            // SAFETY: linked members are valid while the lock is held.
            let link = unsafe { m.as_ref() }.next();
            match link.get() {
                Some(n) if core::ptr::addr_eq(n.as_ptr(), member.as_ptr()) => {
                    link.set(after);
                    return;
                }
                next => at = next,
            }
        }
    }

    /// Runs `arm` unless the driver is unloading (then returns `None`), excluding the unload
    /// sequence meanwhile.
    pub(crate) fn unless_unloading<R>(&self, arm: impl FnOnce() -> R) -> Option<R> {
        let inner = self.inner.lock_internal();
        if inner.unloading { None } else { Some(arm()) }
    }

    /// Stops every member and waits for it to be idle. At PASSIVE_LEVEL, during unload.
    pub(crate) fn quiesce(&self) {
        (self.quiesce)(self);
    }

    fn stop_and_wait(&self) {
        let mut dpcs = false;
        let head = {
            let mut inner = self.inner.lock_internal();
            inner.unloading = true;
            // SAFETY: members stay valid while linked, and unlinking needs this lock.
            unsafe {
                walk(inner.head, |m| {
                    m.stop();
                    dpcs |= m.is_dpc();
                });
            }
            inner.head
        };
        if dpcs {
            // SAFETY: no arguments; at PASSIVE_LEVEL (unload).
            unsafe { KeFlushQueuedDpcs() };
        }
        // SAFETY: members are owned by the driver state, which is not dropped before this
        // returns, and nothing can register new ones after init.
        unsafe { walk(head, |m| m.wait_idle()) };
    }
}
