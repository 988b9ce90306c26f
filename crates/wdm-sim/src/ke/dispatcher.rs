//! DPCs, timers, events, waits and work items.
//!
//! Each kernel has one "system" thread, started when first needed, that fires timers and runs
//! DPCs at DISPATCH_LEVEL (as another processor would), and one worker thread that runs work
//! items at PASSIVE_LEVEL. Driver-embedded objects (KDPC, KTIMER, KEVENT) keep their state in
//! side tables keyed by address; the KDPC's `DpcData` marks a queued DPC, as on Windows.
//! Both threads stop once their kernel is dropped.

use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use wdm_sys::{
    BOOLEAN, DISPATCH_LEVEL, EVENT_TYPE, KDPC, KIRQL, KPRIORITY, KPROCESSOR_MODE, KWAIT_REASON, LARGE_INTEGER, LONG,
    NTSTATUS, PASSIVE_LEVEL, PDEVICE_OBJECT, PIO_WORKITEM, PIO_WORKITEM_ROUTINE, PKDEFERRED_ROUTINE, PKDPC, PKTIMER,
    PLARGE_INTEGER, PRKEVENT, PVOID, STATUS_SUCCESS, STATUS_TIMEOUT, TIMER_TYPE, WORK_QUEUE_TYPE,
};

use crate::kernel::{Bound, CURRENT_DRIVER, State, as_driver, current, lock};
use crate::report::Rule;

/// A timer's state.
struct Timer {
    due: Option<Instant>,
    period: Option<Duration>,
    dpc: PKDPC,
    signaled: bool,
    driver: usize,
}

/// A queued work item call.
struct Work {
    item: usize,
    routine: unsafe extern "C-unwind" fn(PDEVICE_OBJECT, PVOID),
    device: PDEVICE_OBJECT,
    context: PVOID,
    driver: usize,
}

/// A work item allocated by IoAllocateWorkItem.
struct WorkItem {
    device: PDEVICE_OBJECT,
    queued: bool,
    driver: usize,
}

#[derive(Default)]
struct Inner {
    dpcs: VecDeque<(usize, usize)>,
    timers: HashMap<usize, Timer>,
    /// Events: signaled, and whether it is a notification (manual-reset) event.
    events: HashMap<usize, (bool, bool)>,
    work: VecDeque<Work>,
    items: HashMap<usize, WorkItem>,
    /// Callbacks running now (DPCs and work items).
    running: usize,
    /// DPCs running now.
    dpcs_running: usize,
}

/// The kernel's timing and deferred-work machinery.
#[derive(Default)]
pub(crate) struct System {
    kernel: OnceLock<Weak<State>>,
    inner: Mutex<Inner>,
    cv: Condvar,
    system_thread: AtomicBool,
    worker_thread: AtomicBool,
}

// SAFETY: the raw pointers (driver DPC, device and context pointers) are only handed back to
// the driver's callbacks, as the kernel does; the tables are behind the mutex.
unsafe impl Send for System {}
// SAFETY: as above.
unsafe impl Sync for System {}

/// How long an idle system thread sleeps before checking that its kernel still exists.
const IDLE: Duration = Duration::from_millis(50);

impl System {
    pub(crate) fn attach(&self, kernel: Weak<State>) {
        let _ = self.kernel.set(kernel);
    }

    fn ensure_threads(&self) {
        let Some(weak) = self.kernel.get() else {
            return;
        };
        if !self.system_thread.swap(true, Ordering::AcqRel) {
            let weak = weak.clone();
            std::thread::Builder::new()
                .name("wdm-sim system".into())
                .spawn(move || system_thread(weak))
                .expect("spawn the simulator's system thread");
        }
        if !self.worker_thread.swap(true, Ordering::AcqRel) {
            let weak = weak.clone();
            std::thread::Builder::new()
                .name("wdm-sim worker".into())
                .spawn(move || worker_thread(weak))
                .expect("spawn the simulator's worker thread");
        }
    }

    /// What `driver` still has pending: set timers, queued DPCs and work items.
    pub(crate) fn pending_for(&self, driver: usize) -> (usize, usize, usize) {
        let g = lock(&self.inner);
        let timers = g
            .timers
            .values()
            .filter(|t| t.driver == driver && t.due.is_some())
            .count();
        let dpcs = g.dpcs.iter().filter(|(_, d)| *d == driver).count();
        let work = g.work.iter().filter(|w| w.driver == driver).count();
        (timers, dpcs, work)
    }

    /// Waits until no DPC or work item is queued or running and no one-shot timer is set.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let g = lock(&self.inner);
        let (_g, r) = self
            .cv
            .wait_timeout_while(g, timeout, |g| {
                !g.dpcs.is_empty()
                    || !g.work.is_empty()
                    || g.running > 0
                    || g.timers.values().any(|t| t.due.is_some() && t.period.is_none())
            })
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        !r.timed_out()
    }
}

/// Runs a driver callback on a system thread, containing a bug check to this call (the
/// report is already recorded in the kernel).
fn run_callback(k: &Arc<State>, irql: KIRQL, f: impl FnOnce()) {
    let _bound = Bound::new(k);
    crate::irql::set(irql);
    let _ = catch_unwind(AssertUnwindSafe(f));
    crate::spinlock::clear_held();
}

fn system_thread(weak: Weak<State>) {
    loop {
        let Some(k) = weak.upgrade() else { return };
        let sys = &k.system;
        let mut g = lock(&sys.inner);
        // Fire due timers.
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut fired = Vec::new();
        for (&addr, t) in &mut g.timers {
            let Some(due) = t.due else { continue };
            if due <= now {
                t.signaled = true;
                t.due = t.period.map(|p| due + p);
                fired.push((addr, t.dpc, t.driver));
            }
            if let Some(d) = t.due {
                next = Some(next.map_or(d, |n: Instant| n.min(d)));
            }
        }
        for (_, dpc, driver) in fired {
            if !dpc.is_null() {
                queue_dpc(&mut g, dpc, std::ptr::null_mut(), std::ptr::null_mut(), driver);
            }
        }
        if !g.timers.is_empty() {
            sys.cv.notify_all();
        }
        if let Some((dpc, driver)) = g.dpcs.pop_front() {
            g.running += 1;
            g.dpcs_running += 1;
            drop(g);
            let dpc = dpc as PKDPC;
            // SAFETY: a queued DPC lives in driver memory until it runs (the driver's contract).
            let (routine, context, a1, a2) = unsafe {
                let d = &mut *dpc;
                d.DpcData = std::ptr::null_mut();
                (
                    d.DeferredRoutine,
                    d.DeferredContext,
                    d.SystemArgument1,
                    d.SystemArgument2,
                )
            };
            if let Some(routine) = routine {
                RUNNING_DPC.with(|c| c.set(dpc as usize));
                run_callback(&k, DISPATCH_LEVEL as KIRQL, || {
                    as_driver(driver, || {
                        // SAFETY: calling the driver's DPC routine as the kernel does, at
                        // DISPATCH_LEVEL, with the arguments it was queued with.
                        unsafe { routine(dpc, context, a1, a2) }
                    })
                });
                RUNNING_DPC.with(|c| c.set(0));
            }
            let mut g = lock(&sys.inner);
            g.running -= 1;
            g.dpcs_running -= 1;
            sys.cv.notify_all();
            continue;
        }
        let wait = next.map_or(IDLE, |n| n.saturating_duration_since(Instant::now()).min(IDLE));
        // Holding the kernel for at most IDLE: when the test drops its last handle, the next
        // upgrade fails and the thread ends.
        let _ = sys.cv.wait_timeout(g, wait);
    }
}

fn worker_thread(weak: Weak<State>) {
    loop {
        let Some(k) = weak.upgrade() else { return };
        let sys = &k.system;
        let mut g = lock(&sys.inner);
        if let Some(w) = g.work.pop_front() {
            if let Some(item) = g.items.get_mut(&w.item) {
                item.queued = false;
            }
            g.running += 1;
            drop(g);
            run_callback(&k, PASSIVE_LEVEL as KIRQL, || {
                as_driver(w.driver, || {
                    // SAFETY: calling the driver's work routine at PASSIVE_LEVEL with its device
                    // and context, as the kernel's worker threads do.
                    unsafe { (w.routine)(w.device, w.context) }
                })
            });
            let mut g = lock(&sys.inner);
            g.running -= 1;
            sys.cv.notify_all();
            continue;
        }
        let _ = sys.cv.wait_timeout(g, IDLE);
    }
}

fn queue_dpc(g: &mut Inner, dpc: PKDPC, a1: PVOID, a2: PVOID, driver: usize) -> bool {
    // SAFETY: the driver's initialized KDPC.
    let d = unsafe { &mut *dpc };
    if !d.DpcData.is_null() {
        return false;
    }
    d.DpcData = dpc.cast(); // queued
    d.SystemArgument1 = a1;
    d.SystemArgument2 = a2;
    g.dpcs.push_back((dpc as usize, driver));
    true
}

thread_local! {
    /// The DPC this thread is running, if any.
    static RUNNING_DPC: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// With Wine checks on: reports a timer routine called from the timer's own DPC.
fn check_wine_self_wait(k: &State, routine: &'static str, timer: PKTIMER, dpc: PKDPC) {
    let running = RUNNING_DPC.with(std::cell::Cell::get);
    if running == 0 || !k.wine_checks.load(Ordering::Relaxed) {
        return;
    }
    let own = dpc as usize == running
        || lock(&k.system.inner)
            .timers
            .get(&(timer as usize))
            .is_some_and(|t| t.dpc as usize == running);
    if own {
        k.report(
            Rule::WineTimerSelfWait,
            routine,
            None,
            [timer as usize, running, 0, 0],
            format!("{routine} on timer {timer:p} inside its own DPC: Wine 8 waits for that DPC, forever"),
        );
    }
}

fn this_driver() -> usize {
    CURRENT_DRIVER.with(std::cell::Cell::get)
}

/// `KeInitializeDpc`.
///
/// # Safety
/// Kernel routine: a writable KDPC.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeInitializeDpc(dpc: PKDPC, routine: PKDEFERRED_ROUTINE, context: PVOID) {
    // SAFETY: the caller's writable KDPC.
    unsafe {
        dpc.write(KDPC {
            Type: 0x13,
            DeferredRoutine: routine,
            DeferredContext: context,
            ..KDPC::default()
        });
    }
}

/// `KeInsertQueueDpc`: FALSE if the DPC is already queued.
///
/// # Safety
/// Kernel routine: an initialized KDPC.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeInsertQueueDpc(dpc: PKDPC, a1: PVOID, a2: PVOID) -> BOOLEAN {
    let k = current();
    let queued = queue_dpc(&mut lock(&k.system.inner), dpc, a1, a2, this_driver());
    k.system.ensure_threads();
    k.system.cv.notify_all();
    BOOLEAN::from(queued)
}

/// `KeRemoveQueueDpc`: TRUE if the DPC was queued (and now is not).
///
/// # Safety
/// Kernel routine: an initialized KDPC.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeRemoveQueueDpc(dpc: PKDPC) -> BOOLEAN {
    let k = current();
    let mut g = lock(&k.system.inner);
    let before = g.dpcs.len();
    g.dpcs.retain(|(d, _)| *d != dpc as usize);
    let removed = g.dpcs.len() != before;
    if removed {
        // SAFETY: the driver's KDPC.
        unsafe { (*dpc).DpcData = std::ptr::null_mut() };
        k.system.cv.notify_all();
    }
    BOOLEAN::from(removed)
}

/// `KeFlushQueuedDpcs`: returns once every DPC queued before the call has run (none is
/// queued or running). PASSIVE_LEVEL only: it waits.
#[unsafe(no_mangle)]
pub extern "C-unwind" fn KeFlushQueuedDpcs() {
    let k = current();
    let now = crate::irql::get();
    if now >= DISPATCH_LEVEL as KIRQL {
        k.report(
            Rule::WaitAtDispatch,
            "KeFlushQueuedDpcs",
            None,
            [0x3B, usize::from(now), 0, 0],
            format!("flushing DPCs at IRQL {now}"),
        );
        return;
    }
    let g = lock(&k.system.inner);
    let _g = k
        .system
        .cv
        .wait_while(g, |g| !g.dpcs.is_empty() || g.dpcs_running > 0)
        .unwrap_or_else(std::sync::PoisonError::into_inner);
}

/// `KeInitializeTimer`.
///
/// # Safety
/// Kernel routine: a writable KTIMER.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeInitializeTimer(timer: PKTIMER) {
    // SAFETY: forwarded.
    unsafe { KeInitializeTimerEx(timer, wdm_sys::_TIMER_TYPE::NotificationTimer) }
}

/// `KeInitializeTimerEx`.
///
/// # Safety
/// Kernel routine: a writable KTIMER.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeInitializeTimerEx(timer: PKTIMER, _kind: TIMER_TYPE) {
    let k = current();
    let mut g = lock(&k.system.inner);
    g.timers.insert(
        timer as usize,
        Timer {
            due: None,
            period: None,
            dpc: std::ptr::null_mut(),
            signaled: false,
            driver: this_driver(),
        },
    );
}

/// A due time in 100 ns units: negative is relative, positive absolute (taken as relative to
/// now in the simulator, which has no wall clock of its own).
fn due_in(due: LARGE_INTEGER) -> Duration {
    // SAFETY: QuadPart is the whole 64-bit value.
    let t = unsafe { due.QuadPart };
    Duration::from_nanos(t.unsigned_abs().saturating_mul(100))
}

/// `KeSetTimer`: a one-shot timer. TRUE if it was already set.
///
/// # Safety
/// Kernel routine: an initialized KTIMER, and a KDPC or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeSetTimer(timer: PKTIMER, due: LARGE_INTEGER, dpc: PKDPC) -> BOOLEAN {
    // SAFETY: forwarded.
    unsafe { KeSetTimerEx(timer, due, 0, dpc) }
}

/// `KeSetTimerEx`: `period` in milliseconds (0: one-shot). TRUE if it was already set.
///
/// # Safety
/// Kernel routine: an initialized KTIMER, and a KDPC or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeSetTimerEx(timer: PKTIMER, due: LARGE_INTEGER, period: LONG, dpc: PKDPC) -> BOOLEAN {
    let k = current();
    check_wine_self_wait(k, "KeSetTimerEx", timer, dpc);
    let mut g = lock(&k.system.inner);
    let t = g.timers.entry(timer as usize).or_insert(Timer {
        due: None,
        period: None,
        dpc: std::ptr::null_mut(),
        signaled: false,
        driver: 0,
    });
    let was_set = t.due.is_some();
    t.due = Some(Instant::now() + due_in(due));
    t.period = (period > 0).then(|| Duration::from_millis(period as u64));
    t.dpc = dpc;
    t.signaled = false;
    t.driver = this_driver();
    drop(g);
    k.system.ensure_threads();
    k.system.cv.notify_all();
    BOOLEAN::from(was_set)
}

/// `KeCancelTimer`: TRUE if the timer was set.
///
/// # Safety
/// Kernel routine: an initialized KTIMER.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeCancelTimer(timer: PKTIMER) -> BOOLEAN {
    let k = current();
    check_wine_self_wait(k, "KeCancelTimer", timer, std::ptr::null_mut());
    let mut g = lock(&k.system.inner);
    let was_set = g.timers.get_mut(&(timer as usize)).and_then(|t| t.due.take()).is_some();
    k.system.cv.notify_all();
    BOOLEAN::from(was_set)
}

/// `KeReadStateTimer`: whether the timer has expired (signaled).
///
/// # Safety
/// Kernel routine: an initialized KTIMER.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeReadStateTimer(timer: PKTIMER) -> BOOLEAN {
    let k = current();
    BOOLEAN::from(
        lock(&k.system.inner)
            .timers
            .get(&(timer as usize))
            .is_some_and(|t| t.signaled),
    )
}

/// `KeInitializeEvent`.
///
/// # Safety
/// Kernel routine: a writable KEVENT.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeInitializeEvent(event: PRKEVENT, kind: EVENT_TYPE, state: BOOLEAN) {
    let k = current();
    let notification = kind == wdm_sys::_EVENT_TYPE::NotificationEvent;
    lock(&k.system.inner)
        .events
        .insert(event as usize, (state != 0, notification));
}

fn set_event(k: &State, event: PRKEVENT, signaled: bool) -> LONG {
    let mut g = lock(&k.system.inner);
    let e = g.events.entry(event as usize).or_insert((false, true));
    let previous = e.0;
    e.0 = signaled;
    drop(g);
    k.system.cv.notify_all();
    LONG::from(previous)
}

/// `KeSetEvent`: signals; returns the previous state.
///
/// # Safety
/// Kernel routine: an initialized KEVENT.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeSetEvent(event: PRKEVENT, _increment: KPRIORITY, _wait: BOOLEAN) -> LONG {
    set_event(current(), event, true)
}

/// `KeResetEvent`: clears; returns the previous state.
///
/// # Safety
/// Kernel routine: an initialized KEVENT.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeResetEvent(event: PRKEVENT) -> LONG {
    set_event(current(), event, false)
}

/// `KeClearEvent`.
///
/// # Safety
/// Kernel routine: an initialized KEVENT.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeClearEvent(event: PRKEVENT) {
    set_event(current(), event, false);
}

/// `KeReadStateEvent`.
///
/// # Safety
/// Kernel routine: an initialized KEVENT.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeReadStateEvent(event: PRKEVENT) -> LONG {
    let k = current();
    LONG::from(lock(&k.system.inner).events.get(&(event as usize)).is_some_and(|e| e.0))
}

/// `KeWaitForSingleObject` on an event or a timer. NULL timeout waits for ever; a zero timeout
/// polls. Waiting at DISPATCH_LEVEL or above (with a nonzero timeout) is 0xC4/0x3B.
///
/// # Safety
/// Kernel routine: an initialized event or timer; `timeout` NULL or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeWaitForSingleObject(
    object: PVOID,
    _reason: KWAIT_REASON,
    _mode: KPROCESSOR_MODE,
    _alertable: BOOLEAN,
    timeout: PLARGE_INTEGER,
) -> NTSTATUS {
    let k = current();
    // SAFETY: NULL or the caller's readable timeout.
    let limit = unsafe { timeout.as_ref() }.map(|t| due_in(*t));
    let now = crate::irql::get();
    if now >= DISPATCH_LEVEL as KIRQL && limit != Some(Duration::ZERO) {
        k.report(
            Rule::WaitAtDispatch,
            "KeWaitForSingleObject",
            None,
            [0x3B, usize::from(now), object as usize, 0],
            format!("waiting at IRQL {now}"),
        );
        // Reached only while unwinding (see `State::report`): no wait that may never end.
        return STATUS_TIMEOUT;
    }
    let deadline = limit.map(|l| Instant::now() + l);
    let mut g = lock(&k.system.inner);
    loop {
        if let Some(e) = g.events.get_mut(&(object as usize)) {
            if e.0 {
                if !e.1 {
                    e.0 = false; // synchronization events reset when a wait is satisfied
                }
                return STATUS_SUCCESS;
            }
        } else if g.timers.get(&(object as usize)).is_some_and(|t| t.signaled) {
            return STATUS_SUCCESS;
        }
        let wait = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return STATUS_TIMEOUT;
                }
                left.min(IDLE)
            }
            None => IDLE,
        };
        g = k
            .system
            .cv
            .wait_timeout(g, wait)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
    }
}

/// `KeDelayExecutionThread`: sleeps (relative negative intervals, 100 ns units).
///
/// # Safety
/// Kernel routine: a readable interval.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeDelayExecutionThread(
    _mode: KPROCESSOR_MODE,
    _alertable: BOOLEAN,
    interval: PLARGE_INTEGER,
) -> NTSTATUS {
    let k = current();
    let now = crate::irql::get();
    if now >= DISPATCH_LEVEL as KIRQL {
        k.report(
            Rule::WaitAtDispatch,
            "KeDelayExecutionThread",
            None,
            [0x3B, usize::from(now), 0, 0],
            format!("delaying at IRQL {now}"),
        );
    }
    // A delay lets the other processors run: a thread polling in a delay loop waits for them.
    // Under a controlled schedule it is a spin turn (the others run; no real time passes).
    if k.sched.is_controlled() {
        if !crate::sched::spin_wait() {
            return STATUS_SUCCESS;
        }
    } else {
        // SAFETY: the caller's readable interval.
        std::thread::sleep(due_in(unsafe { *interval }));
    }
    STATUS_SUCCESS
}

/// `IoAllocateWorkItem`: NULL when the pool has no room.
#[unsafe(no_mangle)]
pub extern "C-unwind" fn IoAllocateWorkItem(device: PDEVICE_OBJECT) -> PIO_WORKITEM {
    let k = current();
    // From the pool, as on Windows: counted as the driver's (a leak if never freed), and it
    // fails under the low-resources simulation.
    let item = crate::pool::ExAllocatePoolWithTag(0, 8, WORK_ITEM_TAG).cast::<wdm_sys::_IO_WORKITEM>();
    if item.is_null() {
        return item;
    }
    lock(&k.system.inner).items.insert(
        item as usize,
        WorkItem {
            device,
            queued: false,
            driver: this_driver(),
        },
    );
    item
}

/// The pool tag of work items (Windows uses its own; this one reads "IoWk" in leak reports).
const WORK_ITEM_TAG: u32 = u32::from_le_bytes(*b"IoWk");

/// `IoQueueWorkItem`: runs `routine(device, context)` at PASSIVE_LEVEL on a worker thread.
///
/// # Safety
/// Kernel routine: an allocated work item, not queued.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoQueueWorkItem(
    item: PIO_WORKITEM,
    routine: PIO_WORKITEM_ROUTINE,
    _queue: WORK_QUEUE_TYPE,
    context: PVOID,
) {
    let k = current();
    let mut g = lock(&k.system.inner);
    let (Some(w), Some(routine)) = (g.items.get_mut(&(item as usize)), routine) else {
        drop(g);
        k.report(
            Rule::InvalidParameter,
            "IoQueueWorkItem",
            None,
            [item as usize, 0, 0, 0],
            "not an allocated work item".into(),
        );
        return;
    };
    if w.queued {
        drop(g);
        k.report(
            Rule::InvalidParameter,
            "IoQueueWorkItem",
            None,
            [item as usize, 0, 0, 0],
            "work item queued twice".into(),
        );
        return;
    }
    w.queued = true;
    let (device, driver) = (w.device, w.driver);
    g.work.push_back(Work {
        item: item as usize,
        routine,
        device,
        context,
        driver,
    });
    drop(g);
    k.system.ensure_threads();
    k.system.cv.notify_all();
}

/// `IoFreeWorkItem`.
///
/// # Safety
/// Kernel routine: an allocated work item, not queued.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoFreeWorkItem(item: PIO_WORKITEM) {
    let k = current();
    let removed = lock(&k.system.inner).items.remove(&(item as usize));
    match removed {
        Some(w) if !w.queued => crate::pool::ExFreePoolWithTag(item.cast(), WORK_ITEM_TAG),
        _ => k.report(
            Rule::InvalidParameter,
            "IoFreeWorkItem",
            None,
            [item as usize, 0, 0, 0],
            "freeing a work item that is queued or not allocated".into(),
        ),
    }
}
