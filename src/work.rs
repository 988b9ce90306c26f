//! Work items: driver code run later by a system worker thread at PASSIVE_LEVEL.
//!
//! A [`WorkItem`] wraps an IO_WORKITEM of one of the driver's devices. [`queue`](WorkItem::queue)
//! hands it to a worker thread, which calls the driver's [`WorkCallback`] with its state. An item
//! is queued at most once at a time (queuing it again while it waits is refused, as Driver
//! Verifier requires), and it may be queued again from its own callback. Dropping it, and
//! unloading the driver, waits until its callback has returned.

use core::cell::Cell;
use core::marker::PhantomData;
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

use crate::deferred::{Deferred, Member, Registry};
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
pub trait WorkCallback<D>: 'static {
    /// Runs on a system worker thread, at PASSIVE_LEVEL, holding no spin lock (`cx`): it may
    /// wait and take its time.
    fn run(driver: &D, cx: &mut Unlocked);
}

/// Whether the item is queued, and how many runs are queued or running (0..=2).
struct State {
    queued: bool,
    active: usize,
}

struct Objects {
    item: PIO_WORKITEM,
    routine: PIO_WORKITEM_ROUTINE,
    state: SpinLock<State>,
    /// Signaled while `active` is 0.
    idle: KEVENT,
    registry: *const Registry,
    driver: PVOID,
    next: Cell<Option<Member>>,
}

impl Objects {
    fn idle_event(&self) -> *mut KEVENT {
        (&raw const self.idle).cast_mut()
    }
}

impl Deferred for Objects {
    fn stop(&self) {
        // Queuing is refused from now on (the registry's unloading flag).
    }

    fn is_dpc(&self) -> bool {
        false
    }

    fn next(&self) -> &Cell<Option<Member>> {
        &self.next
    }

    /// Returns once no run is queued or running. The event is set and cleared under the state
    /// lock, and the check below takes that lock, so a run has also released it (its last access
    /// to this block) by the time this returns.
    fn wait_idle(&self) {
        loop {
            let event = self.idle_event().cast();
            // SAFETY: an initialized notification event; waiting at PASSIVE_LEVEL (unload, Drop);
            // without a timeout the only result is STATUS_SUCCESS.
            let _ = unsafe { KeWaitForSingleObject(event, Executive, KernelMode as i8, 0, core::ptr::null_mut()) };
            if self.state.lock_internal().active == 0 {
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
///         work.queue();
///         Ok(Flusher { work })
///     }
/// }
/// ```
pub struct WorkItem {
    objects: PoolBox<Objects>,
    _not_sync: PhantomData<*mut ()>,
}

// SAFETY: the work item is used only through kernel routines and the state lock.
unsafe impl Send for WorkItem {}
// SAFETY: as above: `queue` may be called from any processor concurrently.
unsafe impl Sync for WorkItem {}

impl WorkItem {
    /// A work item of `device` whose runs call `W::run` with the driver's state. Made during
    /// `init`. STATUS_INSUFFICIENT_RESOURCES if the kernel has no memory for it.
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
            }),
            idle: KEVENT::default(),
            registry,
            driver: driver.state_slot().cast_mut().cast(),
            next: Cell::new(None),
        })
        .inspect_err(|_| {
            // SAFETY: allocated above, never queued.
            unsafe { IoFreeWorkItem(item) };
        })?;
        // SAFETY: the event lives in the pool block until Drop; initialized once, here.
        unsafe { KeInitializeEvent(objects.idle_event(), NotificationEvent, 1) };
        let member: NonNull<dyn Deferred> = NonNull::from(&*objects);
        // SAFETY: the registry outlives the driver's state and so its work items.
        unsafe { &*objects.registry }.add(member);
        Ok(Self {
            objects,
            _not_sync: PhantomData,
        })
    }

    /// Queues the item to run (IoQueueWorkItem on the delayed work queue). False if it is
    /// already queued and has not started (that run will serve both) or the driver is unloading.
    ///
    /// ```
    /// use wdm::WorkItem;
    ///
    /// fn poke(work: &WorkItem) {
    ///     if !work.queue() {
    ///         // already waiting to run (that run serves this request too), or unloading
    ///     }
    /// }
    /// ```
    pub fn queue(&self) -> bool {
        let o = &*self.objects;
        // SAFETY: the registry outlives the work item (see `new`).
        let registry = unsafe { &*o.registry };
        registry
            .unless_unloading(|| {
                let mut state = o.state.lock_internal();
                if state.queued {
                    return false;
                }
                state.queued = true;
                state.active += 1;
                // SAFETY: an initialized event (at DISPATCH_LEVEL, allowed for KeClearEvent).
                unsafe { KeClearEvent(o.idle_event()) };
                let context: *const Objects = o;
                // SAFETY: an allocated, unqueued item; the context (this pool block) stays valid
                // until the run ends: Drop and unload wait for `active` to reach 0.
                unsafe { IoQueueWorkItem(o.item, o.routine, DelayedWorkQueue, context.cast_mut().cast()) };
                true
            })
            .unwrap_or(false)
    }
}

impl Drop for WorkItem {
    /// Waits for a queued or running callback to return, then frees the item. At PASSIVE_LEVEL.
    fn drop(&mut self) {
        let member: NonNull<dyn Deferred> = NonNull::from(&*self.objects);
        // SAFETY: the registry outlives the work item (see `new`).
        unsafe { &*self.objects.registry }.remove(member);
        self.objects.wait_idle();
        // SAFETY: allocated in `new`, and neither queued nor running any more.
        unsafe { IoFreeWorkItem(self.objects.item) };
    }
}

wdm_sys::callback! {
    /// The work item's routine: calls the driver's callback, then marks the run finished.
    unsafe fn routine<D: Driver, W: WorkCallback<D>>(_device: PDEVICE_OBJECT, context: PVOID) {
        // SAFETY: the context is the item's pool block, alive until the run is marked finished.
        let o = unsafe { &*context.cast::<Objects>() };
        o.state.lock_internal().queued = false;
        // SAFETY: the driver state, initialized (items are queued after init) and not dropped
        // before every run has finished (unload waits).
        let driver = unsafe { &*o.driver.cast::<D>() };
        // SAFETY: a work item routine is entered holding no spin lock.
        let mut cx = unsafe { Unlocked::new() };
        W::run(driver, &mut cx);
        let mut state = o.state.lock_internal();
        state.active -= 1;
        if state.active == 0 {
            // SAFETY: an initialized event; Wait = FALSE, so allowed at DISPATCH_LEVEL.
            unsafe { KeSetEvent(o.idle_event(), 0, 0) };
        }
    }
}
