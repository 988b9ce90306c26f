//! The simulated machine: its state, and which thread runs on it.
//!
//! Kernel routines take no context argument, so each thread that runs driver code is bound to
//! one simulated kernel (a thread-local pointer) and acts as one of its processors, with its own
//! IRQL. Tests run in parallel in one process; each builds its own [`Kernel`], so they never see
//! each other's devices, pool or reports.

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::debug::DebugLine;
use crate::irp::IrpTable;
use crate::object::Objects;
use crate::pool::Pool;
use crate::report::{BugCheck, Report, Rule, Severity};
use crate::sched::Sched;
use crate::trace::Trace;

// SAFETY: the raw pointers inside (driver and device objects, IRPs) point to memory the
// simulator owns, and every access to the tables goes through their mutexes; the objects
// themselves are shared with driver code exactly as the kernel shares them.
unsafe impl Send for State {}
// SAFETY: as above.
unsafe impl Sync for State {}

/// Everything one simulated machine holds.
pub(crate) struct State {
    pub objects: Mutex<Objects>,
    pub pool: Mutex<Pool>,
    pub irps: Mutex<IrpTable>,
    pub reports: Mutex<Vec<Report>>,
    pub debug: Mutex<Vec<DebugLine>>,
    /// The first bug check: once set the machine is stopped, for good.
    pub crash: Mutex<Option<Report>>,
    /// Set with `crash`, to test without taking its lock.
    halted: AtomicBool,
    next_processor: AtomicU32,
    /// The one cancel spin lock (a KSPIN_LOCK word).
    cancel_lock: AtomicUsize,
    /// Drivers (DRIVER_OBJECT addresses) that have armed a cancel routine (StartIoCancel).
    pub cancel_armed: Mutex<HashSet<usize>>,
    pub sched: Sched,
    pub trace: Trace,
    /// Driver Verifier's I/O verification (the 0xC9 checks): on unless a test turns it off to
    /// see what Windows does without it.
    pub io_verification: std::sync::atomic::AtomicBool,
    /// Report what works on Windows but not under Wine 8 (off by default).
    pub wine_checks: std::sync::atomic::AtomicBool,
    /// How long IoReleaseRemoveLockAndWait waits before reporting a hang, in milliseconds.
    pub remove_lock_wait_ms: std::sync::atomic::AtomicU64,
    /// MDLs from IoAllocateMdl.
    pub mdls: crate::mdl::Mdls,
    /// DPCs, timers, events, work items.
    pub system: crate::ke::System,
    /// Driver Verifier's shadows of the remove locks.
    pub remlocks: Mutex<crate::remlock::RemoveLocks>,
    /// The PnP manager's devnodes.
    pub pnp: Mutex<crate::pnp::Pnp>,
    /// The power manager's state.
    pub power: Mutex<crate::po::Power>,
    /// The power manager has a SET_POWER to a sleep state out (SDV PowerDownAllocate).
    pub powering_down: AtomicBool,
}

thread_local! {
    static CURRENT: Cell<*const State> = const { Cell::new(std::ptr::null()) };
    static PROCESSOR: Cell<u32> = const { Cell::new(0) };
    pub(crate) static IRQL: Cell<u8> = const { Cell::new(0) };
    /// The driver whose code this thread is running (its DRIVER_OBJECT), for attributing pool.
    pub(crate) static CURRENT_DRIVER: Cell<usize> = const { Cell::new(0) };
}

/// Locks a mutex, ignoring poisoning: a bug check unwinds through the simulator with locks
/// held by design, and the state stays readable for the report.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The kernel this thread is bound to.
///
/// Panics with an explanation when a kernel routine is called from a thread that no simulated
/// kernel runs (for example a driver function called directly from a test).
pub(crate) fn current() -> &'static State {
    let p = CURRENT.with(Cell::get);
    assert!(
        !p.is_null(),
        "a kernel routine was called on a thread that no simulated kernel runs: \
         call the driver through wdm_sim::Kernel (load, open, ...) or inside Kernel::run"
    );
    // SAFETY: the pointer is set only by `Bound`, which keeps the `Arc<State>` alive for as long
    // as it is installed, and restores the previous value when dropped.
    unsafe { &*p }
}

/// The kernel this thread is bound to, if any.
pub(crate) fn try_current() -> Option<&'static State> {
    let p = CURRENT.with(Cell::get);
    // SAFETY: as in `current`.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Binds the current thread to a kernel for a scope.
pub(crate) struct Bound {
    prev: *const State,
    prev_irql: u8,
    _state: Arc<State>,
}

impl Bound {
    pub(crate) fn new(state: &Arc<State>) -> Self {
        let prev = CURRENT.with(|c| c.replace(Arc::as_ptr(state)));
        if prev != Arc::as_ptr(state) {
            PROCESSOR.with(|p| p.set(state.next_processor.fetch_add(1, Ordering::Relaxed)));
        }
        Self {
            prev,
            prev_irql: IRQL.with(Cell::get),
            _state: Arc::clone(state),
        }
    }
}

impl Drop for Bound {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
        IRQL.with(|i| i.set(self.prev_irql));
    }
}

/// The simulated processor number of this thread.
pub(crate) fn processor() -> u32 {
    PROCESSOR.with(Cell::get)
}

/// Runs `f` as code of `driver` (a DRIVER_OBJECT address), for pool attribution.
pub(crate) fn as_driver<R>(driver: usize, f: impl FnOnce() -> R) -> R {
    let prev = CURRENT_DRIVER.with(|d| d.replace(driver));
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT_DRIVER.with(|d| d.set(self.0));
        }
    }
    let _restore = Restore(prev);
    f()
}

/// A report of `rule` on this processor, at its IRQL now.
pub(crate) fn here(
    rule: Rule,
    routine: &'static str,
    irp: Option<usize>,
    parameters: [usize; 4],
    message: String,
) -> Report {
    Report {
        rule,
        message,
        routine,
        irp,
        processor: processor(),
        irql: IRQL.with(Cell::get),
        parameters,
    }
}

impl State {
    pub(crate) fn new() -> Self {
        Self {
            objects: Mutex::new(Objects::default()),
            pool: Mutex::new(Pool::default()),
            irps: Mutex::new(IrpTable::default()),
            reports: Mutex::new(Vec::new()),
            debug: Mutex::new(Vec::new()),
            crash: Mutex::new(None),
            halted: AtomicBool::new(false),
            next_processor: AtomicU32::new(0),
            cancel_lock: AtomicUsize::new(0),
            cancel_armed: Mutex::new(HashSet::new()),
            sched: Sched::default(),
            trace: Trace::default(),
            io_verification: std::sync::atomic::AtomicBool::new(true),
            wine_checks: std::sync::atomic::AtomicBool::new(false),
            remove_lock_wait_ms: std::sync::atomic::AtomicU64::new(10_000),
            mdls: crate::mdl::Mdls::default(),
            system: crate::ke::System::default(),
            remlocks: Mutex::new(crate::remlock::RemoveLocks::default()),
            pnp: Mutex::new(crate::pnp::Pnp::default()),
            power: Mutex::new(crate::po::Power::default()),
            powering_down: AtomicBool::new(false),
        }
    }

    /// The cancel spin lock, as a KSPIN_LOCK pointer.
    pub(crate) fn cancel_lock(&self) -> wdm_sys::PKSPIN_LOCK {
        self.cancel_lock.as_ptr().cast()
    }

    /// Whether the machine has bug-checked.
    pub(crate) fn halted(&self) -> bool {
        self.halted.load(Ordering::Acquire)
    }

    /// The first bug check, once the machine has stopped.
    pub(crate) fn crash(&self) -> Option<Report> {
        if self.halted() { lock(&self.crash).clone() } else { None }
    }

    /// Records a violation. A fatal one ends the scenario: it unwinds to the harness like a
    /// bug check stops the machine.
    ///
    /// This is the one place that decides whether a violation counts:
    /// - While this thread unwinds (a bug check, or a test's panic, on its way to the harness),
    ///   nothing is recorded and nothing panics: the destructors of the driver's guards are
    ///   running (releasing a lock, lowering the IRQL, completing the IRP) on state the unwind
    ///   left half-done, so what they break is a consequence, not a finding; and a panic out of
    ///   a destructor during an unwind aborts the process. The call returns even for a fatal
    ///   rule, and the routine carries on keeping the simulator's books (a fatal check whose
    ///   continuation would be unsafe returns from its routine right after reporting).
    /// - Once the machine has bug-checked, another processor's violation is not recorded either:
    ///   a warning is dropped, and a fatal one stops that processor too, with the first report,
    ///   which is the one every caller sees.
    pub(crate) fn report(
        &self,
        rule: Rule,
        routine: &'static str,
        irp: Option<usize>,
        parameters: [usize; 4],
        message: String,
    ) {
        if rule.stop_code().code == 0xC9 && !self.io_verification.load(Ordering::Relaxed) {
            return;
        }
        if std::thread::panicking() {
            return;
        }
        let report = here(rule, routine, irp, parameters, message);
        if rule.severity() == Severity::Fatal {
            self.bug_check(report);
        }
        if self.halted() {
            return;
        }
        crate::trace::report(self, &report);
        lock(&self.reports).push(report);
    }

    /// Stops the machine with `report` unless it has stopped already, and unwinds this
    /// processor to the harness with the first bug check.
    fn bug_check(&self, report: Report) -> ! {
        let first = {
            let mut crash = lock(&self.crash);
            match &*crash {
                Some(first) => first.clone(),
                None => {
                    crate::trace::report(self, &report);
                    lock(&self.reports).push(report.clone());
                    *crash = Some(report.clone());
                    self.halted.store(true, Ordering::Release);
                    report
                }
            }
        };
        std::panic::resume_unwind(Box::new(BugCheck(first)))
    }
}
