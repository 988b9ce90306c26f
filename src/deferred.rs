//! The lifecycle of deferred work that calls back into the driver's state (timer DPCs, work
//! items): no callback may run against a state that is not yet written or already dropped, and
//! no drop may wait where waiting is a bug check (DISPATCH_LEVEL) or a self-deadlock (inside
//! its own callback).
//!
//! Every [`Timer`](crate::Timer) and [`WorkItem`](crate::WorkItem) registers with its driver's
//! registry, which goes through four phases:
//!
//! 1. **Initialising**, while `Driver::init` runs: the state is not written yet, so nothing is
//!    armed. `set` and `queue` are recorded, and carried out by `entry` once init has returned
//!    and the state is written ([`Registry::start`]). If init fails, they never are.
//! 2. **Running**: `set` and `queue` arm at once.
//! 3. **Unloading**, from the start of DriverUnload, before `Driver::unload` runs: `set` and
//!    `queue` are refused (STATUS_INVALID_DEVICE_STATE), under the registry lock, so one racing
//!    with the switch either happened before it or is refused. Unload cancels every timer and
//!    dequeues its DPC, waits for DPCs already running (KeFlushQueuedDpcs) and for every work
//!    item to be idle, then frees what was retired (below).
//! 4. **Stopped**, for good: nothing is armed or running, so `Driver::unload` has the state to
//!    itself, and a drop frees at once. (A failed init goes straight here.)
//!
//! A timer or work item dropped where it cannot wait (at DISPATCH_LEVEL, in its own DPC, in its
//! own work item callback, or while running with other work in flight) does not wait: it
//! cancels what can be cancelled and *retires* its pool block to the registry, which frees it
//! once it is certainly idle: at the next drop at PASSIVE_LEVEL (one KeFlushQueuedDpcs covers
//! every retired timer; a retired work item is idle once its last run has returned), or at
//! unload at the latest.
//!
//! The registry outlives its driver's hold on it while members are alive: a timer kept past
//! unload (in a static, on the simulator, where drivers share a process) is refused and frees
//! the registry when it is dropped. A driver without timers or work items pays nothing: the
//! registry is allocated by the first `Timer::new` or `WorkItem::new`, and `entry` and unload
//! reach the lifecycle through function pointers stored in it, so the code is linked only into
//! drivers that use them.

use core::cell::Cell;
use core::ptr::NonNull;

use wdm_sys::PASSIVE_LEVEL;
use wdm_sys::ntddk::KeFlushQueuedDpcs;

use crate::pool::PoolBox;
use crate::{SpinLock, Status};

/// A member of the registry's list.
pub(crate) type Member = NonNull<dyn Deferred>;

/// Where the driver is in its life, as its timers and work items see it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `Driver::init` runs: requests are recorded, carried out by [`Registry::start`].
    Initialising,
    /// Requests are carried out at once.
    Running,
    /// Unload is stopping everything: requests are refused, and members stay linked (the unload
    /// sequence walks them without the lock).
    Unloading,
    /// Nothing is armed or running, for good: requests are refused, a drop frees at once.
    Stopped,
}

impl Phase {
    /// What `set` and `queue` return once the driver is unloading (or failed to load).
    pub(crate) const REFUSED: Status = Status::INVALID_DEVICE_STATE;
}

/// A member's place in its registry. Its cells are only used under the registry lock (or, for
/// `next`, by the unload sequence while nothing is unlinked).
pub(crate) struct Link {
    next: Cell<Option<Member>>,
    /// Dropped, its block not yet freed (it may still be busy).
    retired: Cell<bool>,
    /// Frees the member's pool block (and what it owns); it must be idle and unlinked.
    free: unsafe fn(Member),
}

impl Link {
    /// An unlinked link for a member freed by `free`.
    pub(crate) const fn new(free: unsafe fn(Member)) -> Self {
        Self {
            next: Cell::new(None),
            retired: Cell::new(false),
            free,
        }
    }
}

/// Something deferred that the registry starts, stops, waits for and frees.
pub(crate) trait Deferred {
    /// Its place in the registry.
    fn link(&self) -> &Link;
    /// Carries out what was requested during init (under the registry lock).
    fn start(&self);
    /// Stops it from firing again (at DISPATCH_LEVEL, under the registry lock).
    fn stop(&self);
    /// Whether it runs as a DPC (then it is idle only after a KeFlushQueuedDpcs).
    fn is_dpc(&self) -> bool;
    /// Whether no run of it is queued or running (a DPC: never known without a flush).
    fn is_idle(&self) -> bool;
    /// Waits until no run of it is queued or running (at PASSIVE_LEVEL; a DPC: see the flush).
    fn wait_idle(&self);
}

struct Inner {
    phase: Phase,
    head: Option<Member>,
    /// The driver still holds the registry (until the end of unload, or of a failed init).
    held: bool,
}

// SAFETY: the members are pool blocks of `Send + Sync` timers and work items, only linked and
// unlinked under the lock.
unsafe impl Send for Inner {}

impl Inner {
    /// Unlinks `member`, if linked.
    fn unlink(&mut self, member: Member) {
        let mut prev: Option<Member> = None;
        let mut at = self.head;
        while let Some(m) = at {
            // SAFETY: linked members are valid while the lock is held.
            let next = unsafe { m.as_ref() }.link().next.get();
            if core::ptr::addr_eq(m.as_ptr(), member.as_ptr()) {
                match prev {
                    // SAFETY: as above.
                    Some(p) => unsafe { p.as_ref() }.link().next.set(next),
                    None => self.head = next,
                }
                return;
            }
            prev = Some(m);
            at = next;
        }
    }

    /// Unlinks every retired member for which `take` holds, and returns them as a chain.
    fn unlink_retired(&mut self, mut take: impl FnMut(&dyn Deferred) -> bool) -> Option<Member> {
        let mut chain = None;
        let mut prev: Option<Member> = None;
        let mut at = self.head;
        while let Some(m) = at {
            // SAFETY: linked members are valid while the lock is held.
            let member = unsafe { m.as_ref() };
            let next = member.link().next.get();
            if member.link().retired.get() && take(member) {
                match prev {
                    // SAFETY: as above.
                    Some(p) => unsafe { p.as_ref() }.link().next.set(next),
                    None => self.head = next,
                }
                member.link().next.set(chain);
                chain = Some(m);
            } else {
                prev = Some(m);
            }
            at = next;
        }
        chain
    }
}

/// Calls `f` for every member from `first` on.
///
/// # Safety
/// Every member must stay valid and linked as it is for the walk (the lock is held, or the
/// registry is unloading, when nothing is unlinked).
unsafe fn walk(first: Option<Member>, mut f: impl FnMut(&dyn Deferred)) {
    let mut at = first;
    while let Some(m) = at {
        // SAFETY: the caller's contract.
        let member = unsafe { m.as_ref() };
        at = member.link().next.get();
        f(member);
    }
}

/// Frees every member of a chain made by [`Inner::unlink_retired`].
///
/// # Safety
/// Every member of the chain is idle, unlinked, and no longer used by anyone else.
unsafe fn free_chain(mut at: Option<Member>) {
    while let Some(m) = at {
        // SAFETY: valid until freed below (caller).
        let link = unsafe { m.as_ref() }.link();
        let (next, free) = (link.next.get(), link.free);
        // SAFETY: idle, unlinked and unused (caller); `link` is not used after this.
        unsafe { free(m) };
        at = next;
    }
}

/// A driver's deferred objects.
pub(crate) struct Registry {
    inner: SpinLock<Inner>,
    /// [`Registry::start_all`], [`Registry::stop_and_wait`] and [`Registry::release_hold`],
    /// called through these pointers so that `entry` and unload, which every driver links, only
    /// link the lifecycle when a registry was ever made.
    start: fn(&Registry),
    quiesce: fn(&Registry),
    release: unsafe fn(NonNull<Registry>),
}

impl Registry {
    pub(crate) fn new() -> Self {
        Self {
            inner: SpinLock::new(Inner {
                phase: Phase::Initialising,
                head: None,
                held: true,
            }),
            start: Self::start_all,
            quiesce: Self::stop_and_wait,
            release: Self::release_hold,
        }
    }

    /// Adds `member`, which stays valid until its `free`. Called during init only (a
    /// `DriverObject` is needed to make a member).
    pub(crate) fn add(&self, member: Member) {
        let mut inner = self.inner.lock_internal();
        // SAFETY: the member is valid (caller) and not yet linked.
        unsafe { member.as_ref() }.link().next.set(inner.head);
        inner.head = Some(member);
    }

    /// Runs `f` with the current phase, excluding phase changes (and the start and unload
    /// sequences) meanwhile. `f` runs at DISPATCH_LEVEL under the registry lock.
    pub(crate) fn with_phase<R>(&self, f: impl FnOnce(Phase) -> R) -> R {
        let inner = self.inner.lock_internal();
        f(inner.phase)
    }

    /// The state is written: carries out what was requested during init, and from now on at
    /// once. Called by `entry`.
    pub(crate) fn start(&self) {
        (self.start)(self);
    }

    /// Stops every member, waits for it to be idle and frees what was retired. At PASSIVE_LEVEL,
    /// at the start of unload; afterwards the registry is stopped for good.
    pub(crate) fn quiesce(&self) {
        (self.quiesce)(self);
    }

    /// The driver gives up its hold (end of unload, or of a failed init): the registry is
    /// stopped for good, and freed now or by its last member's drop.
    ///
    /// # Safety
    /// `registry` came from `PoolBox::into_raw` in `DriverObject::registry`; called once, and
    /// the driver does not use the pointer afterwards.
    pub(crate) unsafe fn release(registry: NonNull<Registry>) {
        // SAFETY: valid until released (caller).
        let release = unsafe { registry.as_ref() }.release;
        // SAFETY: the caller's contract.
        unsafe { release(registry) };
    }

    fn start_all(&self) {
        let mut inner = self.inner.lock_internal();
        inner.phase = Phase::Running;
        // SAFETY: under the lock.
        unsafe { walk(inner.head, |m| m.start()) };
    }

    fn stop_and_wait(&self) {
        let mut dpcs = false;
        let head = {
            let mut inner = self.inner.lock_internal();
            inner.phase = Phase::Unloading;
            // SAFETY: under the lock.
            unsafe {
                walk(inner.head, |m| {
                    m.stop();
                    dpcs |= m.is_dpc();
                });
            }
            inner.head
        };
        if dpcs {
            // SAFETY: no arguments; at PASSIVE_LEVEL (unload). Every timer is cancelled and cannot
            // be set again, so after this no DPC of the driver is queued or running.
            unsafe { KeFlushQueuedDpcs() };
        }
        // SAFETY: while unloading nothing is unlinked (a drop only retires) and nothing is added
        // (only init adds), so every member stays valid and the links stay as they are.
        unsafe { walk(head, |m| m.wait_idle()) };
        let retired = {
            let mut inner = self.inner.lock_internal();
            inner.phase = Phase::Stopped;
            inner.unlink_retired(|_| true)
        };
        // SAFETY: unlinked above; idle: every timer is cancelled and DPCs were flushed, every work
        // item is idle and none can be queued again; retired, so no one else owns them.
        unsafe { free_chain(retired) };
    }

    /// # Safety
    /// As [`release`](Self::release).
    unsafe fn release_hold(registry: NonNull<Registry>) {
        let empty = {
            // SAFETY: valid until freed below (caller).
            let mut inner = unsafe { registry.as_ref() }.inner.lock_internal();
            inner.held = false;
            inner.phase = Phase::Stopped;
            inner.head.is_none()
        };
        if empty {
            // SAFETY: no member and no hold left: nothing refers to the registry any more (a
            // member's drop that finds it empty and unheld frees it instead, and there is none).
            drop(unsafe { PoolBox::from_raw(registry) });
        }
    }

    /// Takes over a member being dropped, which has already stopped itself (cancelled its
    /// timer, or refused further runs of its work item): frees it now if it is certainly idle,
    /// otherwise retires it, to be freed once it is (if the caller is at PASSIVE_LEVEL, now,
    /// after flushing DPCs, with every other retired member that is idle after that flush).
    ///
    /// # Safety
    /// `registry` is the member's registry and `member` a linked member that is not used again
    /// by the caller: its block now belongs to the registry.
    pub(crate) unsafe fn dispose(registry: *const Registry, member: Member) {
        let passive = wdm_sys::ntddk::KeGetCurrentIrql() == PASSIVE_LEVEL as wdm_sys::KIRQL;
        // SAFETY: the registry outlives its members (it is freed only once none is left).
        let this = unsafe { &*registry };
        let mut inner = this.inner.lock_internal();
        // SAFETY: linked, so valid while the lock is held.
        let m = unsafe { member.as_ref() };
        let idle = match inner.phase {
            // Nothing was ever armed / everything is idle for good.
            Phase::Initialising | Phase::Stopped => true,
            Phase::Running => m.is_idle(),
            // The unload sequence walks the list without the lock: it frees the member.
            Phase::Unloading => false,
        };
        if idle {
            inner.unlink(member);
            let last = !inner.held && inner.head.is_none();
            drop(inner);
            // SAFETY: idle and unlinked, and the caller gave it up.
            unsafe { (m.link().free)(member) };
            if last {
                // From the raw pointer (a `PoolBox::into_raw`), not from `this`: a shared
                // reference's provenance does not allow the drop's writes (Miri).
                // SAFETY: `registry` is non-NULL (the caller's contract).
                let block = unsafe { NonNull::new_unchecked(registry.cast_mut()) };
                // SAFETY: the driver has let go and this was the last member: nothing refers to
                // the registry any more (`this` is not used after this).
                drop(unsafe { PoolBox::from_raw(block) });
            }
            return;
        }
        m.link().retired.set(true);
        let reap = passive && inner.phase == Phase::Running;
        drop(inner);
        if reap {
            this.reap();
        }
    }

    /// Frees every retired member that is idle: retired work items whose last run has
    /// returned, and retired timers, after a KeFlushQueuedDpcs (each was cancelled and dequeued
    /// when it was retired, so the flush waits for the last DPC that may still use it). At
    /// PASSIVE_LEVEL, while running.
    fn reap(&self) {
        let mut dpcs = false;
        let chain = {
            let mut inner = self.inner.lock_internal();
            if inner.phase != Phase::Running {
                return;
            }
            inner.unlink_retired(|m| {
                dpcs |= m.is_dpc();
                m.is_dpc() || m.is_idle()
            })
        };
        if dpcs {
            // SAFETY: no arguments; at PASSIVE_LEVEL (caller).
            unsafe { KeFlushQueuedDpcs() };
        }
        // SAFETY: unlinked above and retired (their owners gave them up); the timers were
        // cancelled and dequeued before they were retired and their last DPC has returned (the
        // flush), the work items were idle and cannot be queued again.
        unsafe { free_chain(chain) };
    }
}
