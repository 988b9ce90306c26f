//! Timers whose DPC calls back into the driver.
//!
//! A [`Timer`] pairs a KTIMER with its KDPC. When it expires, the DPC runs at DISPATCH_LEVEL
//! and calls the driver's [`TimerCallback`] with the driver's state and the
//! [`DispatchLevel`](crate::DispatchLevel) proof. The kernel objects live in a pool block, so the
//! `Timer` value can move; dropping it cancels it.

use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::time::Duration;

use wdm_sys::ntddk::{
    KeCancelTimer, KeFlushQueuedDpcs, KeInitializeDpc, KeInitializeTimer, KeRemoveQueueDpc, KeSetTimerEx,
};
use wdm_sys::{KDPC, KTIMER, LARGE_INTEGER, PKDPC, PVOID};

use crate::deferred::{Deferred, Member, Registry};
use crate::irql::DispatchLevel;
use crate::pool::PoolBox;
use crate::{Driver, DriverObject, Status, Unlocked};

/// What runs when a timer expires.
///
/// ```
/// use wdm::{DispatchLevel, IrpQueue, Status, TimerCallback, Unlocked};
///
/// struct Waiter {
///     waiting: IrpQueue,
/// }
/// struct Expire;
///
/// impl TimerCallback<Waiter> for Expire {
///     fn expired(driver: &Waiter, _level: &DispatchLevel, cx: &mut Unlocked) {
///         while let Some(irp) = driver.waiting.remove_next(cx) {
///             irp.complete(Status::SUCCESS, cx);
///         }
///     }
/// }
/// ```
pub trait TimerCallback<D>: 'static {
    /// Runs in the timer's DPC, at DISPATCH_LEVEL, holding no spin lock (`cx`).
    fn expired(driver: &D, level: &DispatchLevel, cx: &mut Unlocked);
}

struct Objects {
    timer: KTIMER,
    dpc: KDPC,
    next: Cell<Option<Member>>,
}

impl Deferred for Objects {
    fn stop(&self) {
        let o: *const Objects = self;
        let o = o.cast_mut();
        // SAFETY: only computes a field address in this pool block.
        let timer = unsafe { &raw mut (*o).timer };
        // SAFETY: as above.
        let dpc = unsafe { &raw mut (*o).dpc };
        // SAFETY: an initialized timer; the kernel synchronizes access to it.
        unsafe { KeCancelTimer(timer) };
        // SAFETY: an initialized DPC, as above.
        unsafe { KeRemoveQueueDpc(dpc) };
    }

    fn wait_idle(&self) {
        // The registry flushes DPCs once for all timers.
    }

    fn is_dpc(&self) -> bool {
        true
    }

    fn next(&self) -> &Cell<Option<Member>> {
        &self.next
    }
}

/// A kernel timer with a DPC.
///
/// ```
/// use core::time::Duration;
/// use wdm::{DispatchLevel, Driver, DriverObject, Dispatch, Status, Timer, TimerCallback, Unlocked};
///
/// struct Blinker {
///     timer: Timer,
/// }
///
/// struct Blink;
///
/// impl TimerCallback<Blinker> for Blink {
///     fn expired(_driver: &Blinker, _level: &DispatchLevel, _cx: &mut Unlocked) {
///         // at DISPATCH_LEVEL, every 500 ms
///     }
/// }
///
/// impl Driver for Blinker {
///     const DISPATCH: Dispatch<Self> = Dispatch::new();
///
///     fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
///         let timer = Timer::new::<Self, Blink>(driver)?;
///         timer.set_periodic(Duration::from_millis(500), Duration::from_millis(500));
///         Ok(Blinker { timer })
///     }
/// }
/// ```
///
/// A timer may be set from its own callback. At unload the framework stops every timer and waits
/// for running DPCs before it drops the driver's state, so a callback never sees a dropped state.
pub struct Timer {
    objects: PoolBox<Objects>,
    registry: *const Registry,
    _not_sync: PhantomData<*mut ()>,
}

// SAFETY: the kernel objects are in a pool block and used only through kernel routines, which
// synchronize internally; the DPC context is the driver state, which is `Sync`.
unsafe impl Send for Timer {}
// SAFETY: as above: `set` and `cancel` may be called from any processor concurrently.
unsafe impl Sync for Timer {}

impl Timer {
    /// A timer whose expiry calls `C::expired` with the driver's state. Made during `init`;
    /// STATUS_INSUFFICIENT_RESOURCES if the pool has no room for it.
    ///
    /// ```
    /// use wdm::{DeviceOptions, Dispatch, DispatchLevel, Driver, DriverObject, Status, Timer, TimerCallback, Unlocked};
    ///
    /// struct Watchdog {
    ///     timer: Timer,
    /// }
    /// struct Bark;
    /// impl TimerCallback<Watchdog> for Bark {
    ///     fn expired(_driver: &Watchdog, _level: &DispatchLevel, _cx: &mut Unlocked) {}
    /// }
    ///
    /// impl Driver for Watchdog {
    ///     const DISPATCH: Dispatch<Self> = Dispatch::new();
    ///     fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
    ///         driver.create_device(&DeviceOptions::new())?;
    ///         Ok(Watchdog { timer: Timer::new::<Self, Bark>(driver)? })
    ///     }
    /// }
    /// ```
    pub fn new<D: Driver, C: TimerCallback<D>>(driver: &DriverObject<D>) -> Result<Self, Status> {
        let registry = driver.registry()?;
        let mut objects = PoolBox::try_new(Objects {
            timer: KTIMER::default(),
            dpc: KDPC::default(),
            next: Cell::new(None),
        })?;
        // SAFETY: the pool-block objects outlive the timer's use (Drop cancels it); the DPC context is
        // the driver state's slot, valid from the end of init to unload.
        unsafe {
            KeInitializeTimer(&raw mut objects.timer);
        }
        // SAFETY: as above.
        unsafe {
            KeInitializeDpc(
                &raw mut objects.dpc,
                Some(dpc_routine::<D, C>),
                driver.state_slot().cast_mut().cast(),
            );
        }
        let member: NonNull<dyn Deferred> = NonNull::from(&*objects);
        // SAFETY: the registry outlives the driver's state and so its timers; the member stays
        // valid until Drop removes it.
        unsafe { &*registry }.add(member);
        Ok(Self {
            objects,
            registry,
            _not_sync: PhantomData,
        })
    }

    fn raw(&self) -> (*mut KTIMER, PKDPC) {
        let o: *const Objects = &*self.objects;
        let o = o.cast_mut();
        // SAFETY: a field address in our pool block; the kernel owns its contents.
        let timer = unsafe { &raw mut (*o).timer };
        // SAFETY: as above.
        let dpc = unsafe { &raw mut (*o).dpc };
        (timer, dpc)
    }

    /// Sets the timer to expire once after `due` (KeSetTimer). Returns whether it was already
    /// set (that setting is replaced).
    ///
    /// ```
    /// use core::time::Duration;
    /// use wdm::Timer;
    ///
    /// fn kick(watchdog: &Timer) {
    ///     let was_set = watchdog.set(Duration::from_secs(5)); // replaces a pending expiry
    ///     let _ = was_set;
    /// }
    /// ```
    pub fn set(&self, due: Duration) -> bool {
        self.set_periodic(due, Duration::ZERO)
    }

    /// Sets the timer to expire after `due`, then every `period` (KeSetTimerEx; zero: once).
    /// Returns whether it was already set. Once the driver is unloading it does nothing.
    ///
    /// ```
    /// use core::time::Duration;
    /// use wdm::Timer;
    ///
    /// fn start_polling(poll: &Timer) {
    ///     poll.set_periodic(Duration::from_millis(10), Duration::from_millis(100));
    /// }
    /// ```
    pub fn set_periodic(&self, due: Duration, period: Duration) -> bool {
        let (timer, dpc) = self.raw();
        let hundreds = i64::try_from(due.as_nanos() / 100).unwrap_or(i64::MAX);
        let due = LARGE_INTEGER { QuadPart: -hundreds };
        let period = i32::try_from(period.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: the registry outlives the timer (see `new`).
        let registry = unsafe { &*self.registry };
        registry
            .unless_unloading(|| {
                // SAFETY: an initialized timer and DPC in a pool block, alive until Drop cancels them.
                unsafe { KeSetTimerEx(timer, due, period, dpc) != 0 }
            })
            .unwrap_or(false)
    }

    /// Cancels the timer (KeCancelTimer). True if it was set; false if it had already expired
    /// (its DPC may be queued or running).
    ///
    /// ```
    /// use core::time::Duration;
    /// use wdm::Timer;
    ///
    /// fn stop(poll: &Timer) {
    ///     if !poll.cancel() {
    ///         // it had expired: its DPC may still run once
    ///     }
    /// }
    /// ```
    pub fn cancel(&self) -> bool {
        let (timer, _) = self.raw();
        // SAFETY: an initialized timer.
        unsafe { KeCancelTimer(timer) != 0 }
    }
}

/// Dropping a timer cancels it, dequeues its DPC and waits for a DPC already running on another
/// processor to return (KeFlushQueuedDpcs), so the driver state the callback uses may be freed
/// right after. That wait needs PASSIVE_LEVEL: drop timers in `unload` (or with the driver
/// state), never under a spin lock.
impl Drop for Timer {
    fn drop(&mut self) {
        let member: NonNull<dyn Deferred> = NonNull::from(&*self.objects);
        // SAFETY: the registry outlives the timer (see `new`).
        unsafe { &*self.registry }.remove(member);
        let (timer, dpc) = self.raw();
        // SAFETY: initialized objects; after this the timer is not set.
        unsafe { KeCancelTimer(timer) };
        // SAFETY: as above; after this the DPC is not queued.
        unsafe { KeRemoveQueueDpc(dpc) };
        // SAFETY: no arguments; waits for a DPC that is running now.
        unsafe { KeFlushQueuedDpcs() };
    }
}

wdm_sys::callback! {
    /// The timer's DPC: calls the driver's callback with its state.
    unsafe fn dpc_routine<D: Driver, C: TimerCallback<D>>(_dpc: PKDPC, context: PVOID, _a: PVOID, _b: PVOID) {
        // SAFETY: the context is the driver state's slot, initialized by the time a timer can
        // be set (after init) and alive until unload, which cancels the timer first.
        let driver = unsafe { &*context.cast::<D>() };
        // SAFETY: DPCs run at DISPATCH_LEVEL.
        let level = unsafe { DispatchLevel::assume() };
        // SAFETY: a DPC routine is entered holding no spin lock.
        let mut cx = unsafe { Unlocked::new() };
        C::expired(driver, level, &mut cx);
    }
}
