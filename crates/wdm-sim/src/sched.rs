//! Where simulated processors may be pre-empted.
//!
//! Kernel routines call [`preempt`] at the points where, on a multiprocessor, another
//! processor can run between two steps (for example between releasing the cancel spin lock and
//! entering StartIo, spec §4), and [`spin_wait`] while spinning on a lock. With real threads
//! these only give way to the OS scheduler; the exploration mode (see `explore`) turns them
//! into the choice points of a controlled schedule.

/// A named point where another processor may run.
pub(crate) fn preempt(point: &'static str) {
    if let Some(k) = crate::kernel::try_current() {
        k.sched.preempt(point);
    }
}

/// One turn of a spin loop.
pub(crate) fn spin_wait() {
    match crate::kernel::try_current() {
        Some(k) => k.sched.spin(),
        None => std::thread::yield_now(),
    }
}

/// The machine's scheduling mode: free (real threads, the OS decides) unless an exploration
/// controls it.
#[derive(Default)]
pub(crate) struct Sched {}

impl Sched {
    fn preempt(&self, _point: &'static str) {}

    fn spin(&self) {
        std::hint::spin_loop();
        std::thread::yield_now();
    }
}
