//! Attacks on the lifecycle of timers and work items, through the safe API only: no callback
//! (timer DPC, work item) may run against a driver state that is not yet initialised or
//! already dropped, no drop may wait where waiting is a bug check or a self-deadlock, and unload
//! can finish its own work. Each test is a hostile driver; the simulator reports what Windows
//! would bug-check on, and `assert_clean` what leaked.
//!
//! The lifecycle under attack: a driver's timers and work items belong to a registry that is
//! *initialising* during `Driver::init` (a `set` or `queue` is recorded and carried out once the
//! state is written), *running* from then on, and *stopped* from the start of unload (a `set` or
//! `queue` is refused with STATUS_INVALID_DEVICE_STATE, and no callback is running).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use wdm::{
    Device, DeviceOptions, Dispatch, DispatchLevel, Driver, DriverObject, Irp, IrpQueue, Outcome, SpinLock, Status,
    Timer, TimerCallback, Unlocked, WorkCallback, WorkItem, utf16,
};
use wdm_sim::{Kernel, Rule};

/// Waits up to five seconds for `done`; a callback that never happens (or hangs) fails the test
/// instead of hanging it, with what the simulator reported (a bug check in a callback).
fn eventually(kernel: &Kernel, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; reports: {:?}",
            kernel.reports()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Long enough for the simulator's system and worker threads to run whatever was queued.
const SETTLE: Duration = Duration::from_millis(100);

/// What init writes into the state; the pool block is 0xCD-filled until then.
const MAGIC: u64 = 0x1234_5678_9abc_def0;

/// Attacks on: no callback before init has returned and the state is written.
mod before_init {
    use super::*;

    /// A timer set to expire at once, inside init, which then dawdles.
    struct EarlyTimer {
        value: u64,
        _timer: Timer,
    }

    static TIMER_SAW: AtomicU64 = AtomicU64::new(0);
    static TIMER_RAN_DURING_INIT: AtomicBool = AtomicBool::new(false);
    static TIMER_SET_IN_INIT: Mutex<Option<Result<bool, Status>>> = Mutex::new(None);

    struct Peek;

    impl TimerCallback<EarlyTimer> for Peek {
        fn expired(driver: &EarlyTimer, _level: &DispatchLevel, _cx: &mut Unlocked) {
            TIMER_SAW.store(driver.value, SeqCst);
        }
    }

    impl Driver for EarlyTimer {
        const DISPATCH: Dispatch<Self> = Dispatch::new();

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\EarlyTimer")))?;
            let timer = Timer::new::<Self, Peek>(driver)?;
            *TIMER_SET_IN_INIT.lock().unwrap() = Some(timer.set(Duration::ZERO));
            std::thread::sleep(SETTLE);
            TIMER_RAN_DURING_INIT.store(TIMER_SAW.load(SeqCst) != 0, SeqCst);
            Ok(EarlyTimer {
                value: MAGIC,
                _timer: timer,
            })
        }
    }

    #[test]
    fn a_timer_set_in_init_fires_only_once_the_state_is_written() {
        let kernel = Kernel::new();
        let driver = kernel.load("early", wdm::entry::<EarlyTimer>).unwrap();
        eventually(&kernel, "the deferred expiry", || TIMER_SAW.load(SeqCst) != 0);
        assert!(
            !TIMER_RAN_DURING_INIT.load(SeqCst),
            "the DPC ran while init was still running"
        );
        assert_eq!(TIMER_SAW.load(SeqCst), MAGIC, "the DPC saw an uninitialised state");
        assert_eq!(
            *TIMER_SET_IN_INIT.lock().unwrap(),
            Some(Ok(false)),
            "accepted (not already set): armed when init returns"
        );
        driver.unload();
        kernel.assert_clean();
    }

    /// The same with a work item.
    struct EarlyWork {
        value: u64,
        _work: WorkItem,
    }

    static WORK_SAW: AtomicU64 = AtomicU64::new(0);
    static WORK_RAN_DURING_INIT: AtomicBool = AtomicBool::new(false);
    static WORK_QUEUED_IN_INIT: Mutex<Option<Result<bool, Status>>> = Mutex::new(None);

    struct Look;

    impl WorkCallback<EarlyWork> for Look {
        fn run(driver: &EarlyWork, _cx: &mut Unlocked) {
            WORK_SAW.store(driver.value, SeqCst);
        }
    }

    impl Driver for EarlyWork {
        const DISPATCH: Dispatch<Self> = Dispatch::new();

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            let device = driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\EarlyWork")))?;
            let work = WorkItem::new::<Self, Look>(driver, &device)?;
            *WORK_QUEUED_IN_INIT.lock().unwrap() = Some(work.queue());
            std::thread::sleep(SETTLE);
            WORK_RAN_DURING_INIT.store(WORK_SAW.load(SeqCst) != 0, SeqCst);
            Ok(EarlyWork {
                value: MAGIC,
                _work: work,
            })
        }
    }

    #[test]
    fn a_work_item_queued_in_init_runs_only_once_the_state_is_written() {
        let kernel = Kernel::new();
        let driver = kernel.load("early", wdm::entry::<EarlyWork>).unwrap();
        eventually(&kernel, "the deferred run", || WORK_SAW.load(SeqCst) != 0);
        assert!(
            !WORK_RAN_DURING_INIT.load(SeqCst),
            "the work item ran while init was still running"
        );
        assert_eq!(WORK_SAW.load(SeqCst), MAGIC, "the work item saw an uninitialised state");
        assert_eq!(
            *WORK_QUEUED_IN_INIT.lock().unwrap(),
            Some(Ok(true)),
            "accepted: queued when init returns"
        );
        driver.unload();
        kernel.assert_clean();
    }

    /// Sets its timer and queues its work item, then fails: there is no state to call back with.
    struct Doomed {
        _timer: Timer,
        _work: WorkItem,
    }

    static DOOMED_CALLS: AtomicUsize = AtomicUsize::new(0);

    struct Count;

    impl TimerCallback<Doomed> for Count {
        fn expired(_driver: &Doomed, _level: &DispatchLevel, _cx: &mut Unlocked) {
            DOOMED_CALLS.fetch_add(1, SeqCst);
        }
    }

    impl WorkCallback<Doomed> for Count {
        fn run(_driver: &Doomed, _cx: &mut Unlocked) {
            DOOMED_CALLS.fetch_add(1, SeqCst);
        }
    }

    impl Driver for Doomed {
        const DISPATCH: Dispatch<Self> = Dispatch::new();

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            let device = driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Doomed")))?;
            let timer = Timer::new::<Self, Count>(driver)?;
            let work = WorkItem::new::<Self, Count>(driver, &device)?;
            let _ = timer.set(Duration::ZERO);
            let _ = work.queue();
            std::thread::sleep(SETTLE);
            Err(Status::NOT_SUPPORTED)
        }
    }

    #[test]
    fn after_a_failed_init_nothing_ever_runs() {
        let kernel = Kernel::new();
        assert_eq!(
            kernel.load("doomed", wdm::entry::<Doomed>).err(),
            Some(Status::NOT_SUPPORTED.raw())
        );
        assert!(kernel.wait_idle(Duration::from_secs(2)));
        std::thread::sleep(SETTLE);
        assert_eq!(DOOMED_CALLS.load(SeqCst), 0, "a callback ran without a state");
        kernel.assert_clean();
    }
}

/// Attacks on: no callback once unload has started, and nothing armed from unload.
mod after_unload {
    use super::*;

    /// Ticks every millisecond, and its unload looks for ticks while it has the state.
    struct Ticking {
        timer: Timer,
        work: WorkItem,
    }

    static TICKS: AtomicUsize = AtomicUsize::new(0);
    static TICKS_DURING_UNLOAD: AtomicUsize = AtomicUsize::new(usize::MAX);
    static SET_FROM_UNLOAD: Mutex<Option<Result<bool, Status>>> = Mutex::new(None);
    static QUEUED_FROM_UNLOAD: Mutex<Option<Result<bool, Status>>> = Mutex::new(None);

    struct Tick;

    impl TimerCallback<Ticking> for Tick {
        fn expired(_driver: &Ticking, _level: &DispatchLevel, _cx: &mut Unlocked) {
            TICKS.fetch_add(1, SeqCst);
        }
    }

    impl WorkCallback<Ticking> for Tick {
        fn run(_driver: &Ticking, _cx: &mut Unlocked) {
            TICKS.fetch_add(1, SeqCst);
        }
    }

    impl Driver for Ticking {
        const DISPATCH: Dispatch<Self> = Dispatch::new();

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            let device = driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Ticking")))?;
            let timer = Timer::new::<Self, Tick>(driver)?;
            timer.set_periodic(Duration::from_millis(1), Duration::from_millis(1))?;
            Ok(Ticking {
                timer,
                work: WorkItem::new::<Self, Tick>(driver, &device)?,
            })
        }

        fn unload(&mut self, _cx: &mut Unlocked) {
            let before = TICKS.load(SeqCst);
            *SET_FROM_UNLOAD.lock().unwrap() = Some(self.timer.set(Duration::ZERO));
            *QUEUED_FROM_UNLOAD.lock().unwrap() = Some(self.work.queue());
            std::thread::sleep(SETTLE);
            TICKS_DURING_UNLOAD.store(TICKS.load(SeqCst) - before, SeqCst);
        }
    }

    #[test]
    fn no_callback_runs_while_unload_has_the_state_and_nothing_can_be_armed_from_it() {
        let kernel = Kernel::new();
        let driver = kernel.load("ticking", wdm::entry::<Ticking>).unwrap();
        eventually(&kernel, "a few ticks", || TICKS.load(SeqCst) >= 3);
        driver.unload();
        assert_eq!(
            TICKS_DURING_UNLOAD.load(SeqCst),
            0,
            "a callback ran while unload had `&mut self`"
        );
        assert_eq!(
            *SET_FROM_UNLOAD.lock().unwrap(),
            Some(Err(Status::INVALID_DEVICE_STATE))
        );
        assert_eq!(
            *QUEUED_FROM_UNLOAD.lock().unwrap(),
            Some(Err(Status::INVALID_DEVICE_STATE))
        );
        std::thread::sleep(SETTLE);
        assert!(kernel.wait_idle(Duration::from_secs(2)));
        kernel.assert_clean();
    }

    /// Takes its timer out of the state at unload and keeps it in a static, past the driver.
    /// (On Windows nothing of a driver runs after its image is unloaded; in one test process the
    /// static outlives it, and the timer must stay harmless.)
    struct Stasher {
        timer: Option<Timer>,
    }

    static STASH: Mutex<Option<Timer>> = Mutex::new(None);
    static STASHED_FIRED: AtomicUsize = AtomicUsize::new(0);

    struct Fired;

    impl TimerCallback<Stasher> for Fired {
        fn expired(_driver: &Stasher, _level: &DispatchLevel, _cx: &mut Unlocked) {
            STASHED_FIRED.fetch_add(1, SeqCst);
        }
    }

    impl Driver for Stasher {
        const DISPATCH: Dispatch<Self> = Dispatch::new();

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Stasher")))?;
            Ok(Stasher {
                timer: Some(Timer::new::<Self, Fired>(driver)?),
            })
        }

        fn unload(&mut self, _cx: &mut Unlocked) {
            *STASH.lock().unwrap() = self.timer.take();
        }
    }

    #[test]
    fn a_timer_that_outlives_its_driver_is_refused_and_never_fires() {
        let kernel = Kernel::new();
        let driver = kernel.load("stasher", wdm::entry::<Stasher>).unwrap();
        driver.unload();
        // The stashed timer (and the registry it belongs to) are still allocated: a leak, which
        // is what the driver asked for, and the only report.
        let reports = kernel.take_reports();
        assert!(
            !reports.is_empty() && reports.iter().all(|r| r.rule == Rule::PoolLeak),
            "{reports:?}"
        );
        let set = kernel.run(|| STASH.lock().unwrap().as_ref().map(|t| t.set(Duration::ZERO)));
        assert_eq!(set, Some(Err(Status::INVALID_DEVICE_STATE)));
        std::thread::sleep(SETTLE);
        assert_eq!(STASHED_FIRED.load(SeqCst), 0, "a DPC ran against a freed state");
        kernel.run(|| drop(STASH.lock().unwrap().take()));
        assert!(kernel.pool().is_empty(), "{:?}", kernel.pool());
        kernel.assert_clean();
    }
}

/// Attacks on: a drop that cannot wait must not wait, and must not free what a callback may
/// still use.
mod drop_that_cannot_wait {
    use super::*;

    /// The DPC of `own` drops `own` (inside its own DPC, at DISPATCH_LEVEL); an IOCTL drops
    /// `other` at PASSIVE_LEVEL; another IOCTL drops `armed` under a spin lock, and the DPC of
    /// `own` drops `victim`, another timer that is set.
    struct Droppers {
        own: SpinLock<Option<Timer>>,
        other: SpinLock<Option<Timer>>,
        armed: SpinLock<Option<Timer>>,
        victim: SpinLock<Option<Timer>>,
    }

    static OWN_DROPPED: AtomicBool = AtomicBool::new(false);
    static LONG_FIRED: AtomicUsize = AtomicUsize::new(0);

    struct DropSelf;

    impl TimerCallback<Droppers> for DropSelf {
        fn expired(driver: &Droppers, _level: &DispatchLevel, cx: &mut Unlocked) {
            let own = driver.own.with(cx, Option::take);
            drop(own);
            let victim = driver.victim.with(cx, Option::take);
            drop(victim);
            OWN_DROPPED.store(true, SeqCst);
        }
    }

    struct Long;

    impl TimerCallback<Droppers> for Long {
        fn expired(_driver: &Droppers, _level: &DispatchLevel, _cx: &mut Unlocked) {
            LONG_FIRED.fetch_add(1, SeqCst);
        }
    }

    const DROP_OTHER: u32 = 0x222000;
    const DROP_ARMED_UNDER_LOCK: u32 = 0x222004;

    impl Driver for Droppers {
        const DISPATCH: Dispatch<Self> = Dispatch::new()
            .create(Self::ok)
            .close(Self::ok)
            .device_control(Self::control);

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Droppers")))?;
            let own = Timer::new::<Self, DropSelf>(driver)?;
            own.set(Duration::from_millis(1))?;
            let armed = Timer::new::<Self, Long>(driver)?;
            armed.set(Duration::from_secs(60))?;
            let victim = Timer::new::<Self, Long>(driver)?;
            victim.set(Duration::from_secs(60))?;
            Ok(Droppers {
                own: SpinLock::new(Some(own)),
                other: SpinLock::new(Some(Timer::new::<Self, Long>(driver)?)),
                armed: SpinLock::new(Some(armed)),
                victim: SpinLock::new(Some(victim)),
            })
        }
    }

    impl Droppers {
        fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            irp.complete(Status::SUCCESS, cx).into()
        }

        fn control<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            match irp.ioctl().map(|i| i.code()) {
                Some(DROP_OTHER) => {
                    let other = self.other.with(cx, Option::take);
                    drop(other); // at PASSIVE_LEVEL: waits for DPCs, frees what was retired
                }
                Some(DROP_ARMED_UNDER_LOCK) => self.armed.with(cx, |armed| drop(armed.take())),
                _ => return irp.complete(Status::INVALID_DEVICE_REQUEST, cx).into(),
            }
            irp.complete(Status::SUCCESS, cx).into()
        }
    }

    #[test]
    fn timers_dropped_in_their_own_dpc_another_dpc_or_under_a_lock_are_retired_and_freed() {
        let kernel = Kernel::new();
        let driver = kernel.load("droppers", wdm::entry::<Droppers>).unwrap();
        eventually(&kernel, "the DPC that drops its own timer", || OWN_DROPPED.load(SeqCst));
        assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
        let file = kernel.open(r"\Device\Droppers").unwrap();
        assert_eq!(file.ioctl(DROP_ARMED_UNDER_LOCK, &[], 0).status, Status::SUCCESS.raw());
        assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
        // Three timers are retired (own, victim, armed): none could wait. The next drop at
        // PASSIVE_LEVEL flushes DPCs once and frees them with its own block.
        let before = kernel.pool().len();
        assert_eq!(file.ioctl(DROP_OTHER, &[], 0).status, Status::SUCCESS.raw());
        assert_eq!(
            kernel.pool().len(),
            before - 4,
            "the retired timers were freed with `other`"
        );
        file.close();
        driver.unload();
        assert_eq!(LONG_FIRED.load(SeqCst), 0, "the dropped timers were cancelled");
        kernel.assert_clean();
    }

    /// Retired timers left at unload are freed there, after the flush.
    struct Retiring {
        own: SpinLock<Option<Timer>>,
    }

    static RETIRING_DROPPED: AtomicBool = AtomicBool::new(false);

    struct Retire;

    impl TimerCallback<Retiring> for Retire {
        fn expired(driver: &Retiring, _level: &DispatchLevel, cx: &mut Unlocked) {
            let own = driver.own.with(cx, Option::take);
            drop(own);
            RETIRING_DROPPED.store(true, SeqCst);
        }
    }

    impl Driver for Retiring {
        const DISPATCH: Dispatch<Self> = Dispatch::new();

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Retiring")))?;
            let own = Timer::new::<Self, Retire>(driver)?;
            own.set_periodic(Duration::from_millis(1), Duration::from_millis(1))?;
            Ok(Retiring {
                own: SpinLock::new(Some(own)),
            })
        }
    }

    #[test]
    fn a_periodic_timer_dropped_in_its_own_dpc_is_freed_at_unload() {
        let kernel = Kernel::new();
        let driver = kernel.load("retiring", wdm::entry::<Retiring>).unwrap();
        eventually(&kernel, "the DPC that drops its own timer", || {
            RETIRING_DROPPED.load(SeqCst)
        });
        driver.unload();
        kernel.assert_clean();
    }

    /// A work item whose callback drops it, and one dropped under a spin lock while queued
    /// behind a slow run.
    struct Workers {
        own: SpinLock<Option<WorkItem>>,
        slow: WorkItem,
        queued: SpinLock<Option<WorkItem>>,
    }

    static OWN_WORK_DROPPED: AtomicBool = AtomicBool::new(false);
    static SLOW_RUNNING: AtomicBool = AtomicBool::new(false);
    static QUEUED_RAN: AtomicUsize = AtomicUsize::new(0);

    struct DropOwn;

    impl WorkCallback<Workers> for DropOwn {
        fn run(driver: &Workers, cx: &mut Unlocked) {
            let own = driver.own.with(cx, Option::take);
            drop(own); // would wait for this very run to end
            OWN_WORK_DROPPED.store(true, SeqCst);
        }
    }

    struct Slow;

    impl WorkCallback<Workers> for Slow {
        fn run(_driver: &Workers, _cx: &mut Unlocked) {
            SLOW_RUNNING.store(true, SeqCst);
            std::thread::sleep(SETTLE);
        }
    }

    struct Queued;

    impl WorkCallback<Workers> for Queued {
        fn run(_driver: &Workers, _cx: &mut Unlocked) {
            QUEUED_RAN.fetch_add(1, SeqCst);
        }
    }

    const QUEUE_SLOW_THEN_DROP: u32 = 0x222000;

    impl Driver for Workers {
        const DISPATCH: Dispatch<Self> = Dispatch::new()
            .create(Self::ok)
            .close(Self::ok)
            .device_control(Self::control);

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            let device = driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Workers")))?;
            let own = WorkItem::new::<Self, DropOwn>(driver, &device)?;
            own.queue()?;
            Ok(Workers {
                own: SpinLock::new(Some(own)),
                slow: WorkItem::new::<Self, Slow>(driver, &device)?,
                queued: SpinLock::new(Some(WorkItem::new::<Self, Queued>(driver, &device)?)),
            })
        }
    }

    impl Workers {
        fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            irp.complete(Status::SUCCESS, cx).into()
        }

        fn control<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            if irp.ioctl().map(|i| i.code()) != Some(QUEUE_SLOW_THEN_DROP) {
                return irp.complete(Status::INVALID_DEVICE_REQUEST, cx).into();
            }
            // The worker thread is busy with `slow`; `queued` waits behind it and is dropped
            // at DISPATCH_LEVEL, where nothing may wait.
            let _ = self.slow.queue();
            while !SLOW_RUNNING.load(SeqCst) {
                std::thread::yield_now();
            }
            self.queued.with(cx, |queued| {
                if let Some(item) = queued.take() {
                    let _ = item.queue();
                    drop(item);
                }
            });
            irp.complete(Status::SUCCESS, cx).into()
        }
    }

    #[test]
    fn work_items_dropped_in_their_own_callback_or_at_dispatch_level_do_not_wait() {
        let kernel = Kernel::new();
        let driver = kernel.load("workers", wdm::entry::<Workers>).unwrap();
        eventually(&kernel, "the callback that drops its own work item", || {
            OWN_WORK_DROPPED.load(SeqCst)
        });
        let file = kernel.open(r"\Device\Workers").unwrap();
        assert_eq!(file.ioctl(QUEUE_SLOW_THEN_DROP, &[], 0).status, Status::SUCCESS.raw());
        assert!(kernel.wait_idle(Duration::from_secs(2)));
        assert_eq!(
            QUEUED_RAN.load(SeqCst),
            0,
            "a run queued before the drop does not call back"
        );
        file.close();
        driver.unload();
        kernel.assert_clean();
    }
}

/// Unload finishing its own work: completing what it still holds with a status of its choosing.
mod unload_finishes_its_work {
    use super::*;

    struct Parked {
        waiting: IrpQueue,
    }

    impl Driver for Parked {
        const DISPATCH: Dispatch<Self> = Dispatch::new()
            .create(Self::ok)
            .close(Self::ok)
            .device_control(Self::park);

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Parked")))?;
            Ok(Parked {
                waiting: IrpQueue::new()?,
            })
        }

        fn unload(&mut self, cx: &mut Unlocked) {
            let answered = self.waiting.complete_all(Status::NO_SUCH_DEVICE, cx);
            assert_eq!(answered, 3);
        }
    }

    impl Parked {
        fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            irp.complete(Status::SUCCESS, cx).into()
        }

        fn park<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let (pending, pended) = irp.mark_pending();
            self.waiting.insert(pending, cx);
            pended.into()
        }
    }

    #[test]
    fn unload_completes_queued_irps_with_the_status_it_chooses() {
        let kernel = Kernel::new();
        let driver = kernel.load("parked", wdm::entry::<Parked>).unwrap();
        let file = kernel.open(r"\Device\Parked").unwrap();
        let parked: Vec<_> = (0..3).map(|_| file.start_ioctl(0x222000, &[], 0)).collect();
        std::mem::forget(file); // the handle stays open, as if its process hung
        driver.unload();
        for p in parked {
            assert_eq!(p.wait().status, Status::NO_SUCH_DEVICE.raw());
        }
        assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
        assert!(kernel.pool().is_empty());
    }
}

/// Timers and work items belong to one driver.
mod other_driver {
    use super::*;

    /// Hands its device to whoever loads next, through a static (only possible when two
    /// drivers share one process, as on the simulator).
    struct Lender;

    static LENT: Mutex<Option<Device>> = Mutex::new(None);

    impl Driver for Lender {
        const DISPATCH: Dispatch<Self> = Dispatch::new();

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            let device = driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Lender")))?;
            *LENT.lock().unwrap() = Some(device);
            Ok(Lender)
        }
    }

    struct Borrower {
        _work: WorkItem,
    }

    struct Nothing;

    impl WorkCallback<Borrower> for Nothing {
        fn run(_driver: &Borrower, _cx: &mut Unlocked) {}
    }

    impl Driver for Borrower {
        const DISPATCH: Dispatch<Self> = Dispatch::new();

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Borrower")))?;
            let lent = LENT.lock().unwrap().take().ok_or(Status::UNSUCCESSFUL)?;
            Ok(Borrower {
                _work: WorkItem::new::<Self, Nothing>(driver, &lent)?,
            })
        }
    }

    #[test]
    fn a_work_item_of_another_drivers_device_is_refused() {
        let kernel = Kernel::new();
        let lender = kernel.load("lender", wdm::entry::<Lender>).unwrap();
        assert_eq!(
            kernel.load("borrower", wdm::entry::<Borrower>).err(),
            Some(Status::INVALID_PARAMETER.raw())
        );
        lender.unload();
        kernel.assert_clean();
    }
}
