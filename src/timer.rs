//! Timers whose DPC calls back into the driver.
//!
//! A [`Timer`] pairs a KTIMER with its KDPC. When it expires, the DPC runs at DISPATCH_LEVEL
//! and calls the driver's [`TimerCallback`] with the driver's state and the
//! [`DispatchLevel`](crate::DispatchLevel) proof. The kernel objects live in a pool block, so the
//! `Timer` value can move; dropping it cancels it. When a timer can be armed, and what a drop
//! that cannot wait does with the block, is the driver's lifecycle (`deferred.rs`).

use core::cell::{Cell, UnsafeCell};
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use core::time::Duration;

use wdm_sys::ntddk::{KeCancelTimer, KeInitializeDpc, KeInitializeTimer, KeRemoveQueueDpc, KeSetTimerEx};
use wdm_sys::{KDPC, KTIMER, LARGE_INTEGER, PKDPC, PVOID};

use crate::deferred::{Deferred, Link, Member, Phase, Registry};
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
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a timer callback of driver `{D}`",
    label = "implement `TimerCallback<{D}>` for it",
    note = "a timer's callback gets the state of the driver whose `DriverObject` made the timer"
)]
pub trait TimerCallback<D>: 'static {
    /// Runs in the timer's DPC, at DISPATCH_LEVEL, holding no spin lock (`cx`).
    fn expired(driver: &D, level: &DispatchLevel, cx: &mut Unlocked);
}

struct Objects {
    // The kernel writes these behind Rust's back (from any processor): interior-mutable, and
    // reached only through `UnsafeCell::get`, never through a reference to them.
    timer: UnsafeCell<KTIMER>,
    dpc: UnsafeCell<KDPC>,
    /// A setting made during init (due time in 100 ns units, negative: relative; period in ms),
    /// carried out when the driver starts. Only used under the registry lock.
    pending: Cell<Option<(i64, i32)>>,
    link: Link,
}

impl Objects {
    fn raw(&self) -> (*mut KTIMER, PKDPC) {
        (self.timer.get(), self.dpc.get())
    }

    /// KeSetTimerEx: whether the timer was already set.
    fn arm(&self, due: i64, period: i32) -> bool {
        let (timer, dpc) = self.raw();
        // SAFETY: an initialized timer and DPC in a pool block that is freed only once the timer
        // is cancelled and its DPC idle; the DPC's context is the driver state, written by now
        // (timers are armed from the end of init on).
        unsafe { KeSetTimerEx(timer, LARGE_INTEGER { QuadPart: due }, period, dpc) != 0 }
    }

    /// KeCancelTimer and KeRemoveQueueDpc: afterwards the timer is not set and its DPC not
    /// queued (it may be running). Whether the timer was set.
    fn disarm(&self) -> bool {
        let (timer, dpc) = self.raw();
        // SAFETY: an initialized timer; the kernel synchronizes access to it.
        let was_set = unsafe { KeCancelTimer(timer) != 0 };
        // SAFETY: an initialized DPC, as above.
        unsafe { KeRemoveQueueDpc(dpc) };
        was_set
    }
}

/// Frees a timer's pool block.
///
/// # Safety
/// `member` is a timer's block from [`Timer::new`], unlinked, cancelled, and its DPC is neither
/// queued nor running.
unsafe fn free(member: Member) {
    // SAFETY: the caller's contract; `Objects` owns no other resource.
    drop(unsafe { PoolBox::from_raw(member.cast::<Objects>()) });
}

impl Deferred for Objects {
    fn link(&self) -> &Link {
        &self.link
    }

    fn start(&self) {
        if let Some((due, period)) = self.pending.take() {
            self.arm(due, period);
        }
    }

    fn stop(&self) {
        self.disarm();
    }

    fn is_dpc(&self) -> bool {
        true
    }

    fn is_idle(&self) -> bool {
        false // its DPC may be running: only a flush tells
    }

    fn wait_idle(&self) {
        // The registry flushes DPCs once for all timers.
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
///         // Set during init: armed once init has returned and the state is written.
///         timer.set_periodic(Duration::from_millis(500), Duration::from_millis(500))?;
///         Ok(Blinker { timer })
///     }
/// }
/// ```
///
/// A timer may be set from its own callback. No callback ever sees a state that is not there: a
/// timer set during `init` is armed only once init has returned (never, if it fails), and from
/// the start of unload every timer is cancelled, its DPC waited for, and setting one is refused
/// (STATUS_INVALID_DEVICE_STATE). Dropping a timer never waits where waiting is not allowed
/// (see [`Drop`](#impl-Drop-for-Timer)).
pub struct Timer {
    objects: ManuallyDrop<PoolBox<Objects>>,
    registry: *const Registry,
    _not_sync: PhantomData<*mut ()>,
}

// SAFETY: the kernel objects are in a pool block and used only through kernel routines, which
// synchronize internally, and the registry lock; the DPC context is the driver state, which is
// `Sync`.
unsafe impl Send for Timer {}
// SAFETY: as above: `set` and `cancel` may be called from any processor concurrently.
unsafe impl Sync for Timer {}

impl Timer {
    /// A timer whose expiry calls `C::expired` with the driver's state. Made during `init`;
    /// STATUS_INSUFFICIENT_RESOURCES if the pool has no room for it. `C` is a callback for this
    /// driver's type: the `DriverObject<D>` decides `D`.
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
        let objects = PoolBox::try_new(Objects {
            timer: UnsafeCell::new(KTIMER::default()),
            dpc: UnsafeCell::new(KDPC::default()),
            pending: Cell::new(None),
            link: Link::new(free),
        })?;
        // SAFETY: the pool-block objects outlive the timer's use (the block is freed only once
        // the timer is cancelled and its DPC idle).
        unsafe {
            KeInitializeTimer(objects.timer.get());
        }
        // SAFETY: as above; the DPC context is the driver state's slot, written before any timer
        // is armed (the registry arms nothing before init has returned) and dropped only after
        // every timer is cancelled and DPCs are flushed (unload).
        unsafe {
            KeInitializeDpc(
                objects.dpc.get(),
                Some(dpc_routine::<D, C>),
                driver.state_slot().cast_mut().cast(),
            );
        }
        // With the block's own provenance: the registry frees it through this pointer.
        let member: NonNull<dyn Deferred> = objects.as_non_null();
        // SAFETY: the registry lives as long as it has members; the member stays valid until the
        // registry frees it.
        unsafe { &*registry }.add(member);
        Ok(Self {
            objects: ManuallyDrop::new(objects),
            registry,
            _not_sync: PhantomData,
        })
    }

    fn registry(&self) -> &Registry {
        // SAFETY: the registry lives as long as it has members, and this timer is one.
        unsafe { &*self.registry }
    }

    /// Sets the timer to expire once after `due` (KeSetTimer). `Ok(true)` if it was already set
    /// (that setting is replaced); `Err(STATUS_INVALID_DEVICE_STATE)` once the driver is
    /// unloading, when nothing may be armed any more. During `init` the setting is recorded and
    /// armed when init has returned (`due` counts from then).
    ///
    /// ```
    /// use core::time::Duration;
    /// use wdm::{Status, Timer};
    ///
    /// fn kick(watchdog: &Timer) -> Result<(), Status> {
    ///     let was_set = watchdog.set(Duration::from_secs(5))?; // replaces a pending expiry
    ///     let _ = was_set;
    ///     Ok(())
    /// }
    /// ```
    pub fn set(&self, due: Duration) -> Result<bool, Status> {
        self.set_periodic(due, Duration::ZERO)
    }

    /// Sets the timer to expire after `due`, then every `period` (KeSetTimerEx; zero: once).
    /// As [`set`](Self::set): `Ok(was_set)`, refused with STATUS_INVALID_DEVICE_STATE once the
    /// driver is unloading (a DPC that re-arms its timer can ignore that: unload is stopping
    /// it), recorded until init has returned.
    ///
    /// ```
    /// use core::time::Duration;
    /// use wdm::{Status, Timer};
    ///
    /// fn start_polling(poll: &Timer) -> Result<(), Status> {
    ///     poll.set_periodic(Duration::from_millis(10), Duration::from_millis(100))?;
    ///     Ok(())
    /// }
    /// ```
    pub fn set_periodic(&self, due: Duration, period: Duration) -> Result<bool, Status> {
        let hundreds = i64::try_from(due.as_nanos() / 100).unwrap_or(i64::MAX);
        let period = i32::try_from(period.as_millis()).unwrap_or(i32::MAX);
        let o = &*self.objects;
        self.registry().with_phase(|phase| match phase {
            Phase::Initialising => Ok(o.pending.replace(Some((-hundreds, period))).is_some()),
            Phase::Running => Ok(o.arm(-hundreds, period)),
            Phase::Unloading | Phase::Stopped => Err(Phase::REFUSED),
        })
    }

    /// Cancels the timer (KeCancelTimer). True if it was set; false if it had already expired
    /// (its DPC may be queued or running). During `init`, drops a recorded setting.
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
        let o = &*self.objects;
        self.registry().with_phase(|phase| match phase {
            Phase::Initialising => o.pending.take().is_some(),
            _ => {
                let (timer, _) = o.raw();
                // SAFETY: an initialized timer.
                unsafe { KeCancelTimer(timer) != 0 }
            }
        })
    }
}

/// Dropping a timer cancels it and dequeues its DPC. It may be dropped anywhere: under a spin
/// lock, in a DPC, in its own DPC. Its pool block is freed at once if nothing can be using it
/// (during init, after unload), after KeFlushQueuedDpcs if the drop runs at PASSIVE_LEVEL (which
/// then also frees the blocks of timers dropped earlier where they could not wait), and
/// otherwise it is retired to the driver, to be freed at the next drop at PASSIVE_LEVEL or at
/// unload, once its last DPC has certainly returned. (KeFlushQueuedDpcs needs PASSIVE_LEVEL, and
/// waiting inside the DPC being waited for would never end.)
impl Drop for Timer {
    fn drop(&mut self) {
        self.objects.disarm();
        let registry = self.registry;
        // SAFETY: taken once, here; `self.objects` is not used again.
        let objects = unsafe { ManuallyDrop::take(&mut self.objects) };
        let member: Member = objects.into_raw();
        // SAFETY: this timer's registry and linked member, which the registry now owns.
        unsafe { Registry::dispose(registry, member) };
    }
}

wdm_sys::callback! {
    /// The timer's DPC: calls the driver's callback with its state.
    unsafe fn dpc_routine<D: Driver, C: TimerCallback<D>>(_dpc: PKDPC, context: PVOID, _a: PVOID, _b: PVOID) {
        // SAFETY: the context is the driver state's slot: written before any timer is armed (the
        // registry arms nothing until init has returned and the state is written), and dropped
        // only after unload has cancelled every timer and flushed DPCs.
        let driver = unsafe { &*context.cast::<D>() };
        // SAFETY: DPCs run at DISPATCH_LEVEL.
        let level = unsafe { DispatchLevel::assume() };
        // SAFETY: a DPC routine is entered holding no spin lock.
        let mut cx = unsafe { Unlocked::new() };
        C::expired(driver, level, &mut cx);
    }
}
