//! Where simulated processors may be pre-empted.
//!
//! Kernel routines call [`preempt`] at the points where, on a multiprocessor, another
//! processor can run between two steps (for example between releasing the cancel spin lock and
//! entering StartIo, spec §4), and [`spin_wait`] while spinning on a lock. With real threads
//! these only give way to the OS scheduler; the exploration mode (see `explore`) turns them
//! into the choice points of a controlled schedule.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::explore::Controller;
use crate::kernel::{State, lock};

/// A named point where another processor may run.
pub(crate) fn preempt(point: &'static str) {
    if let Some(k) = crate::kernel::try_current() {
        k.sched.preempt(point);
    }
}

/// One turn of a spin loop. False if the spinner must give up: it is unwinding (a guard's
/// destructor acquiring a lock) and the lock may never be released, because the machine has
/// bug-checked or no other processor is left to release it.
#[must_use]
pub(crate) fn spin_wait() -> bool {
    match crate::kernel::try_current() {
        Some(k) => k.sched.spin(k),
        None => {
            std::thread::yield_now();
            true
        }
    }
}

/// The machine's scheduling mode: free (real threads, the OS decides) unless an exploration
/// controls it.
#[derive(Default)]
pub(crate) struct Sched {
    active: AtomicBool,
    controller: Mutex<Option<Arc<Controller>>>,
}

impl Sched {
    pub(crate) fn install(&self, c: Arc<Controller>) {
        *lock(&self.controller) = Some(c);
        self.active.store(true, Ordering::Release);
    }

    /// Whether an exploration controls the schedule.
    pub(crate) fn is_controlled(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    pub(crate) fn uninstall(&self) {
        self.active.store(false, Ordering::Release);
        *lock(&self.controller) = None;
    }

    fn controller(&self) -> Option<Arc<Controller>> {
        if self.active.load(Ordering::Acquire) {
            lock(&self.controller).clone()
        } else {
            None
        }
    }

    fn preempt(&self, point: &'static str) {
        if let Some(c) = self.controller() {
            // Never false: this processor may always carry on itself.
            let _ = c.switch(point, false);
        }
    }

    fn spin(&self, k: &State) -> bool {
        if let Some(report) = k.crash() {
            if std::thread::panicking() {
                return false;
            }
            // The machine stopped while this processor waited: stop it too.
            std::panic::resume_unwind(Box::new(crate::BugCheck(report)));
        }
        match self.controller() {
            Some(c) => c.switch("spin", true),
            None => {
                std::hint::spin_loop();
                std::thread::yield_now();
                true
            }
        }
    }
}
