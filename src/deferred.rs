//! Deferred work that calls back into the driver's state (timer DPCs, work items) must be over
//! before that state is dropped at unload, whatever order the driver declared its fields in.
//!
//! Every [`Timer`](crate::Timer) and [`WorkItem`](crate::WorkItem) registers itself with its
//! driver's registry. Unload then, after `Driver::unload` and before dropping the state:
//! 1. marks the driver as unloading, so no timer can be set and no work item queued again
//!    (under the registry lock, so a `set` racing with this either happened before or is refused);
//! 2. cancels every timer and dequeues its DPC;
//! 3. waits for DPCs already running (KeFlushQueuedDpcs) and for every work item to be idle.

use alloc::vec::Vec;
use core::ptr::NonNull;

use wdm_sys::ntddk::KeFlushQueuedDpcs;

use crate::SpinLock;

/// Something deferred that the registry stops and waits for.
pub(crate) trait Deferred {
    /// Stops it from firing again (at DISPATCH_LEVEL, under the registry lock).
    fn stop(&self);
    /// Waits until its callback is not running (at PASSIVE_LEVEL).
    fn wait_idle(&self);
}

struct Inner {
    unloading: bool,
    members: Vec<NonNull<dyn Deferred>>,
}

/// A driver's deferred objects.
pub(crate) struct Registry {
    inner: SpinLock<Inner>,
}

// SAFETY: the members are heap objects of `Send + Sync` timers and work items, only touched under
// the lock.
unsafe impl Send for Inner {}

impl Registry {
    pub(crate) const fn new() -> Self {
        Self {
            inner: SpinLock::new(Inner {
                unloading: false,
                members: Vec::new(),
            }),
        }
    }

    /// Adds `member`, which stays valid until [`remove`](Self::remove).
    pub(crate) fn add(&self, member: NonNull<dyn Deferred>) {
        self.inner.lock().members.push(member);
    }

    /// Removes `member`.
    pub(crate) fn remove(&self, member: NonNull<dyn Deferred>) {
        self.inner
            .lock()
            .members
            .retain(|m| !core::ptr::addr_eq(m.as_ptr(), member.as_ptr()));
    }

    /// Runs `arm` unless the driver is unloading (then returns `None`), excluding the unload
    /// sequence meanwhile.
    pub(crate) fn unless_unloading<R>(&self, arm: impl FnOnce() -> R) -> Option<R> {
        let inner = self.inner.lock();
        if inner.unloading { None } else { Some(arm()) }
    }

    /// Stops every member and waits for it to be idle. At PASSIVE_LEVEL, during unload.
    pub(crate) fn quiesce(&self) {
        {
            let mut inner = self.inner.lock();
            inner.unloading = true;
            for m in &inner.members {
                // SAFETY: members stay valid until they remove themselves, which needs this lock.
                unsafe { m.as_ref() }.stop();
            }
        }
        // SAFETY: no arguments; at PASSIVE_LEVEL (unload).
        unsafe { KeFlushQueuedDpcs() };
        let members: Vec<NonNull<dyn Deferred>> = self.inner.lock().members.clone();
        for m in members {
            // SAFETY: members are owned by the driver state, which is not dropped before this
            // returns, so none has removed itself yet.
            unsafe { m.as_ref() }.wait_idle();
        }
    }
}
