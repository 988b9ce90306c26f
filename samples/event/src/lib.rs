//! The `general/event/wdm` pattern: a request that waits for a timer.
//!
//! `IOCTL_EVENT_WAIT` carries a due time in milliseconds (a little-endian `u32`). The driver pends
//! the IRP in a cancel-safe queue, stamped with the tick at which it is due, and a timer DPC
//! completes every request whose tick has come. Meanwhile the request can be cancelled
//! (CancelIoEx, thread exit), and closing the handle cancels the handle's waiting requests.
//!
//! The C sample keeps one KTIMER and KDPC per request; here one timer ticks every
//! [`TICK`] while anything waits and stops when the queue is empty (a one-shot timer, re-armed
//! after each tick by a work item: Wine deadlocks when a timer is set or cancelled from its own
//! DPC), so there is no per-request
//! timer to cancel and no race between a request's cancel routine and its own DPC: the
//! framework's queue decides who completes each request.

#![no_std]

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;

use wdm::{
    DeviceOptions, Dispatch, DispatchLevel, Driver, DriverObject, FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, Irp, IrpQueue,
    Method, Outcome, Status, Timer, TimerCallback, Unlocked, WorkCallback, WorkItem, ctl_code, kprint, utf16,
};

/// Waits for the number of milliseconds in its input (a little-endian `u32`); completes with
/// STATUS_SUCCESS when they have passed, STATUS_CANCELLED if cancelled first.
pub const IOCTL_EVENT_WAIT: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x800, Method::Buffered, FILE_ANY_ACCESS);

/// The longest wait accepted (a longer one fails with STATUS_INVALID_PARAMETER).
pub const MAX_WAIT_MS: u32 = 60_000;

/// The timer's period: requests complete between their due time and one tick later.
pub const TICK: Duration = Duration::from_millis(10);

/// The device's options.
pub const DEVICE: DeviceOptions = DeviceOptions::new()
    .name(utf16!("\\Device\\Event"))
    .symbolic_link(utf16!("\\DosDevices\\Event"));

/// The driver's state.
pub struct Event {
    /// The tick.
    timer: Timer,
    /// Waiting requests, each with the tick at which it is due.
    waiting: IrpQueue<u64>,
    /// Ticks since load.
    ticks: AtomicU64,
    /// Re-arms the timer after each tick.
    rearm: WorkItem,
    /// Whether the timer is ticking. Only the thread that turns it from `false` to `true` arms
    /// the timer; the work item turns it off, then looks at the queue (see [`Rearm`]).
    running: AtomicBool,
}

/// The timer's DPC.
struct Tick;

impl TimerCallback<Event> for Tick {
    fn expired(driver: &Event, _level: &DispatchLevel, cx: &mut Unlocked) {
        let now = driver.ticks.fetch_add(1, Ordering::Relaxed) + 1;
        // Completed outside any spin lock (SDV SpinLockSafe; the simulator reports it).
        while let Some(request) = driver.waiting.remove_first(|q| q.context() <= now, cx) {
            request.complete(Status::SUCCESS, cx);
        }
        // The next tick is armed from a work item, never from here: Wine's KeSetTimer and
        // KeCancelTimer wait for the timer's running callbacks, so they deadlock inside one.
        // Refused (STATUS_INVALID_DEVICE_STATE) only once unloading, which stops the ticking.
        let _ = driver.rearm.queue();
    }
}

/// Arms the next tick while requests wait, or stops ticking.
struct Rearm;

impl WorkCallback<Event> for Rearm {
    fn run(driver: &Event, cx: &mut Unlocked) {
        // Stop, then look: a request queued after the look finds `running` false (it swaps it
        // after its insertion) and arms the timer itself; one queued before is seen here. Of
        // the two swaps that may race, only one finds `false`: the timer is armed once.
        driver.running.store(false, Ordering::SeqCst);
        if !driver.waiting.is_empty(cx) && !driver.running.swap(true, Ordering::SeqCst) {
            // Refused only once unloading: then the waiting requests are cancelled anyway.
            let _ = driver.timer.set(TICK);
        }
    }
}

impl Driver for Event {
    const DISPATCH: Dispatch<Self> = Dispatch::new()
        .create(Self::create_close)
        .close(Self::create_close)
        .cleanup(Self::cleanup)
        .device_control(Self::device_control);

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        let device = driver.create_device(&DEVICE)?;
        let rearm = WorkItem::new::<Self, Rearm>(driver, &device)?;
        kprint!("event: loaded\n");
        Ok(Event {
            timer: Timer::new::<Self, Tick>(driver)?,
            rearm,
            waiting: IrpQueue::new()?,
            ticks: AtomicU64::new(0),
            running: AtomicBool::new(false),
        })
    }

    fn unload(&mut self, _cx: &mut Unlocked) {
        kprint!("event: unloading\n");
    }
}

/// The due time of a wait request, or the status that rejects it.
pub fn parse_wait(input: &[u8]) -> Result<u32, Status> {
    let ms = u32::from_le_bytes(input.try_into().map_err(|_| Status::INVALID_PARAMETER)?);
    if ms > MAX_WAIT_MS {
        return Err(Status::INVALID_PARAMETER);
    }
    Ok(ms)
}

/// How many ticks a wait of `ms` lasts: enough that at least `ms` pass before it completes,
/// whatever the phase of the running timer.
pub fn ticks_for(ms: u32) -> u64 {
    let tick = TICK.as_millis() as u64;
    u64::from(ms).div_ceil(tick) + 1
}

impl Event {
    fn create_close<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.complete(Status::SUCCESS, cx).into()
    }

    fn device_control<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let ms = match irp.ioctl() {
            Some(ioctl) if ioctl.code() == IOCTL_EVENT_WAIT => ioctl.buffered().and_then(|b| parse_wait(b.input())),
            _ => Err(Status::INVALID_DEVICE_REQUEST),
        };
        let ms = match ms {
            Ok(ms) => ms,
            Err(status) => return irp.complete(status, cx).into(),
        };
        let due = self.ticks.load(Ordering::Relaxed) + ticks_for(ms);
        let (pending, pended) = irp.mark_pending();
        self.waiting.insert_with(pending, due, cx);
        if !self.running.swap(true, Ordering::SeqCst) {
            // Requests arrive only while the driver runs, when setting is never refused.
            let _ = self.timer.set(TICK);
        }
        pended.into()
    }

    /// The handle is closing: its waiting requests are cancelled (the I/O manager would cancel
    /// them at thread exit anyway; the C sample does the same here).
    fn cleanup<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let file = irp.file_object();
        while let Some(request) = self.waiting.remove_first(|q| q.file_object() == file, cx) {
            request.complete(Status::CANCELLED, cx);
        }
        irp.complete(Status::SUCCESS, cx).into()
    }
}
