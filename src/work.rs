//! Work items: driver code run later by a system worker thread at PASSIVE_LEVEL.
//!
//! A [`WorkItem`] wraps an IO_WORKITEM of one of the driver's devices. [`queue`](WorkItem::queue)
//! hands it to a worker thread, which calls the driver's [`WorkCallback`] with its state. An item
//! is queued at most once at a time (queuing it again while it waits is refused, as Driver
//! Verifier requires), and it may be queued again from its own callback. Unloading the driver
//! waits until every callback has returned; dropping an item never waits (see its `Drop`). When
//! an item can be queued, and what a drop does with a busy item, is the driver's lifecycle
//! (`deferred.rs`).

use core::cell::{Cell, UnsafeCell};
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;

use wdm_sys::_EVENT_TYPE::NotificationEvent;
use wdm_sys::_KWAIT_REASON::Executive;
use wdm_sys::_MODE::KernelMode;
use wdm_sys::_WORK_QUEUE_TYPE::DelayedWorkQueue;
use wdm_sys::ntddk::{
    IoAllocateWorkItem, IoFreeWorkItem, IoQueueWorkItem, KeClearEvent, KeInitializeEvent, KeSetEvent,
    KeWaitForSingleObject,
};
use wdm_sys::{KEVENT, PDEVICE_OBJECT, PIO_WORKITEM, PIO_WORKITEM_ROUTINE, PVOID};

use crate::deferred::{Deferred, Link, Member, Phase, Registry};
use crate::pool::PoolBox;
use crate::{Device, Driver, DriverObject, SpinLock, Status, Unlocked};

/// What a work item runs.
///
/// ```
/// use wdm::{IrpQueue, Status, Unlocked, WorkCallback};
///
/// struct Disk {
///     writes: IrpQueue,
/// }
/// struct Flush;
///
/// impl WorkCallback<Disk> for Flush {
///     // PASSIVE_LEVEL: may wait, may take its time.
///     fn run(driver: &Disk, cx: &mut Unlocked) {
///         while let Some(write) = driver.writes.remove_next(cx) {
///             write.complete(Status::SUCCESS, cx);
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a work item callback of driver `{D}`",
    label = "implement `WorkCallback<{D}>` for it",
    note = "a work item's callback gets the state of the driver whose `DriverObject` made the item"
)]
pub trait WorkCallback<D>: 'static {
    /// Runs on a system worker thread, at PASSIVE_LEVEL, holding no spin lock (`cx`): it may
    /// wait and take its time.
    fn run(driver: &D, cx: &mut Unlocked);
}

/// Whether the item is queued, how many runs are queued or running (0..=2), and whether the
/// `WorkItem` was dropped (a run that starts after that does not call back).
struct State {
    queued: bool,
    active: usize,
    dropped: bool,
}

struct Objects {
    item: PIO_WORKITEM,
    routine: PIO_WORKITEM_ROUTINE,
    state: SpinLock<State>,
    /// Signaled while `active` is 0.
    /// Written by the kernel (KeSetEvent, KeClearEvent, waits) from any processor: reached only
    /// through `UnsafeCell::get`.
    idle: UnsafeCell<KEVENT>,
    registry: *const Registry,
    driver: PVOID,
    /// Queued during init: queued for real when the driver starts. Only used under the
    /// registry lock.
    pending: Cell<bool>,
    link: Link,
}

impl Objects {
    fn idle_event(&self) -> *mut KEVENT {
        self.idle.get()
    }

    /// IoQueueWorkItem, unless a run is already queued and has not started (false).
    fn enqueue(&self) -> bool {
        let mut state = self.state.lock_internal();
        if state.queued {
            return false;
        }
        state.queued = true;
        state.active += 1;
        // SAFETY: an initialized event (at DISPATCH_LEVEL, allowed for KeClearEvent).
        unsafe { KeClearEvent(self.idle_event()) };
        let context: *const Objects = self;
        // SAFETY: an allocated, unqueued item; the context (this pool block) stays valid until
        // the run ends: the block is freed only once `active` is back to 0.
        unsafe { IoQueueWorkItem(self.item, self.routine, DelayedWorkQueue, context.cast_mut().cast()) };
        true
    }
}

/// Frees a work item and its pool block.
///
/// # Safety
/// `member` is a work item's block from [`WorkItem::new`], unlinked, with no run queued or
/// running (`active` 0, observed under its lock).
unsafe fn free(member: Member) {
    // SAFETY: the caller's contract.
    let objects = unsafe { PoolBox::from_raw(member.cast::<Objects>()) };
    // SAFETY: allocated in `new`, and neither queued nor running any more (caller). (Freeing
    // one from its own routine would be allowed too: the I/O manager dequeues an item before
    // running it.)
    unsafe { IoFreeWorkItem(objects.item) };
}

impl Deferred for Objects {
    fn link(&self) -> &Link {
        &self.link
    }

    fn start(&self) {
        if self.pending.replace(false) {
            self.enqueue();
        }
    }

    fn stop(&self) {
        // Queuing is refused from now on (the registry's phase).
    }

    fn is_dpc(&self) -> bool {
        false
    }

    /// Observed under the state lock, which a run releases last: once `active` is 0 here, the
    /// run that made it 0 no longer touches this block.
    fn is_idle(&self) -> bool {
        self.state.lock_internal().active == 0
    }

    /// Returns once no run is queued or running. The event is set and cleared under the state
    /// lock, and the check below takes that lock, so a run has also released it (its last access
    /// to this block) by the time this returns.
    fn wait_idle(&self) {
        loop {
            let event = self.idle_event().cast();
            // SAFETY: an initialized notification event; waiting at PASSIVE_LEVEL (unload);
            // without a timeout the only result is STATUS_SUCCESS.
            let _ = unsafe { KeWaitForSingleObject(event, Executive, KernelMode as i8, 0, core::ptr::null_mut()) };
            if self.is_idle() {
                return;
            }
        }
    }
}

/// A work item that calls back into the driver.
///
/// ```
/// use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, Status, Unlocked, WorkCallback, WorkItem};
///
/// struct Flusher {
///     work: WorkItem,
/// }
///
/// struct Flush;
///
/// impl WorkCallback<Flusher> for Flush {
///     fn run(_driver: &Flusher, _cx: &mut Unlocked) {
///         // at PASSIVE_LEVEL, on a worker thread
///     }
/// }
///
/// impl Driver for Flusher {
///     const DISPATCH: Dispatch<Self> = Dispatch::new();
///
///     fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
///         let device = driver.create_device(&DeviceOptions::new())?;
///         let work = WorkItem::new::<Self, Flush>(driver, &device)?;
///         work.queue()?; // queued once init has returned and the state is written
///         Ok(Flusher { work })
///     }
/// }
/// ```
pub struct WorkItem {
    objects: ManuallyDrop<PoolBox<Objects>>,
    _not_sync: PhantomData<*mut ()>,
}

// SAFETY: the work item is used only through kernel routines, the state lock and the registry
// lock.
unsafe impl Send for WorkItem {}
// SAFETY: as above: `queue` may be called from any processor concurrently.
unsafe impl Sync for WorkItem {}

impl WorkItem {
    /// A work item of `device` whose runs call `W::run` with the driver's state. Made during
    /// `init`. STATUS_INSUFFICIENT_RESOURCES if the kernel has no memory for it;
    /// STATUS_INVALID_PARAMETER if `device` is not this driver's (the item would hold another
    /// driver's device, which that driver deletes at its own unload). `W` is a callback for this
    /// driver's type: the `DriverObject<D>` decides `D`.
    ///
    /// ```
    /// use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, Status, Unlocked, WorkCallback, WorkItem};
    ///
    /// struct Worker {
    ///     work: WorkItem,
    /// }
    /// struct Job;
    /// impl WorkCallback<Worker> for Job {
    ///     fn run(_driver: &Worker, _cx: &mut Unlocked) {}
    /// }
    ///
    /// impl Driver for Worker {
    ///     const DISPATCH: Dispatch<Self> = Dispatch::new();
    ///     fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
    ///         let device = driver.create_device(&DeviceOptions::new())?;
    ///         let work = WorkItem::new::<Self, Job>(driver, &device)?; // STATUS_INSUFFICIENT_RESOURCES?
    ///         Ok(Worker { work })
    ///     }
    /// }
    /// ```
    pub fn new<D: Driver, W: WorkCallback<D>>(driver: &DriverObject<D>, device: &Device) -> Result<Self, Status> {
        // SAFETY: a `Device` is a live device object created by this framework.
        if unsafe { (*device.as_raw()).DriverObject } != driver.as_raw() {
            return Err(Status::INVALID_PARAMETER);
        }
        let registry = driver.registry()?;
        // SAFETY: a live device object of this driver.
        let item = unsafe { IoAllocateWorkItem(device.as_raw()) };
        if item.is_null() {
            return Err(Status::INSUFFICIENT_RESOURCES);
        }
        let objects = PoolBox::try_new(Objects {
            item,
            routine: Some(routine::<D, W>),
            state: SpinLock::new(State {
                queued: false,
                active: 0,
                dropped: false,
            }),
            idle: UnsafeCell::new(KEVENT::default()),
            registry,
            driver: driver.state_slot().cast_mut().cast(),
            pending: Cell::new(false),
            link: Link::new(free),
        })
        .inspect_err(|_| {
            // SAFETY: allocated above, never queued.
            unsafe { IoFreeWorkItem(item) };
        })?;
        // SAFETY: the event lives in the pool block until it is freed; initialized once, here.
        unsafe { KeInitializeEvent(objects.idle_event(), NotificationEvent, 1) };
        // With the block's own provenance: the registry frees it through this pointer.
        let member: NonNull<dyn Deferred> = objects.as_non_null();
        // SAFETY: the registry lives as long as it has members; the member stays valid until the
        // registry frees it.
        unsafe { &*objects.registry }.add(member);
        Ok(Self {
            objects: ManuallyDrop::new(objects),
            _not_sync: PhantomData,
        })
    }

    /// Queues the item to run (IoQueueWorkItem on the delayed work queue). `Ok(false)` if it is
    /// already queued and has not started (that run will serve both);
    /// `Err(STATUS_INVALID_DEVICE_STATE)` once the driver is unloading, when nothing may be
    /// queued any more. During `init` it is recorded and queued when init has returned.
    ///
    /// ```
    /// use wdm::{Status, WorkItem};
    ///
    /// fn poke(work: &WorkItem) -> Result<(), Status> {
    ///     if !work.queue()? {
    ///         // already waiting to run: that run serves this request too
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn queue(&self) -> Result<bool, Status> {
        let o = &*self.objects;
        // SAFETY: the registry lives as long as it has members, and this item is one.
        let registry = unsafe { &*o.registry };
        registry.with_phase(|phase| match phase {
            Phase::Initialising => Ok(!o.pending.replace(true)),
            Phase::Running => Ok(o.enqueue()),
            Phase::Unloading | Phase::Stopped => Err(Phase::REFUSED),
        })
    }
}

/// Dropping a work item never waits, so it may be dropped anywhere: at DISPATCH_LEVEL, or in
/// its own callback (which would otherwise wait for itself). A run queued but not started by
/// then ends without calling back; a run in progress finishes. The item is freed at once if it is
/// idle, and otherwise retired to the driver and freed once its last run has returned (at the
/// next drop at PASSIVE_LEVEL, or at unload, which waits for it).
impl Drop for WorkItem {
    fn drop(&mut self) {
        self.objects.state.lock_internal().dropped = true;
        let registry = self.objects.registry;
        // SAFETY: taken once, here; `self.objects` is not used again.
        let objects = unsafe { ManuallyDrop::take(&mut self.objects) };
        let member: Member = objects.into_raw();
        // SAFETY: this item's registry and linked member, which the registry now owns.
        unsafe { Registry::dispose(registry, member) };
    }
}

wdm_sys::callback! {
    /// The work item's routine: calls the driver's callback, then marks the run finished.
    unsafe fn routine<D: Driver, W: WorkCallback<D>>(_device: PDEVICE_OBJECT, context: PVOID) {
        // SAFETY: the context is the item's pool block, alive until the run is marked finished.
        let o = unsafe { &*context.cast::<Objects>() };
        let call = {
            let mut state = o.state.lock_internal();
            state.queued = false;
            !state.dropped
        };
        if call {
            // SAFETY: the driver state: written before any item is queued (the registry queues
            // nothing until init has returned and the state is written), and dropped only after
            // unload has waited for every run.
            let driver = unsafe { &*o.driver.cast::<D>() };
            // SAFETY: a work item routine is entered holding no spin lock.
            let mut cx = unsafe { Unlocked::new() };
            W::run(driver, &mut cx);
        }
        let mut state = o.state.lock_internal();
        state.active -= 1;
        if state.active == 0 {
            // SAFETY: an initialized event; Wait = FALSE, so allowed at DISPATCH_LEVEL.
            unsafe { KeSetEvent(o.idle_event(), 0, 0) };
        }
    }
}
