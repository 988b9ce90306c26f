//! Controlled schedules: run a scenario's processors one at a time, switching only at the
//! simulator's pre-emption points, and explore the interleavings — all of them up to a bound on
//! pre-emptions, or random ones from a seed — so a race found once replays exactly.
//!
//! ```
//! use wdm_sim::explore::{Explorer, Processors};
//! use std::sync::atomic::{AtomicU32, Ordering};
//!
//! // Two processors, no kernel calls: one schedule.
//! let report = Explorer::exhaustive(2).run(|_kernel, cpus: &mut Processors| {
//!     let n = AtomicU32::new(0);
//!     cpus.run(vec![
//!         Box::new(|| { n.fetch_add(1, Ordering::SeqCst); }),
//!         Box::new(|| { n.fetch_add(1, Ordering::SeqCst); }),
//!     ]);
//!     if n.load(Ordering::SeqCst) == 2 { Ok(()) } else { Err("lost an update".into()) }
//! });
//! assert!(report.failure.is_none());
//! assert!(report.schedules >= 1);
//! ```

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex};

use crate::Kernel;
use crate::kernel::lock;

thread_local! {
    /// This thread's index in the running exploration, if it is one of its processors.
    static ME: Cell<Option<usize>> = const { Cell::new(None) };
}

/// How schedules are chosen.
#[derive(Clone, Debug)]
enum Mode {
    /// Every schedule with at most this many pre-emptions, in depth-first order.
    Exhaustive { bound: usize },
    /// `runs` schedules drawn from a seeded generator.
    Random { seed: u64, runs: usize },
    /// One schedule, given as its decisions.
    Replay(Vec<usize>),
}

/// Explores a scenario's schedules.
#[derive(Clone, Debug)]
pub struct Explorer {
    mode: Mode,
    max_schedules: usize,
}

/// What an exploration found.
#[derive(Clone, Debug)]
pub struct Exploration {
    /// How many schedules ran.
    pub schedules: usize,
    /// The first failing schedule, if any.
    pub failure: Option<Failure>,
}

/// A failing schedule: replay it with [`Explorer::replay`].
#[derive(Clone, Debug)]
pub struct Failure {
    /// The decisions that make the schedule (replayable).
    pub schedule: Vec<usize>,
    /// The seed that produced it, in random mode.
    pub seed: Option<u64>,
    /// Why it failed: a bug check, a panic, or the scenario's own check.
    pub message: String,
}

impl Explorer {
    /// Every schedule with at most `preemptions` pre-emptions (switching away from a
    /// processor that could go on).
    pub fn exhaustive(preemptions: usize) -> Self {
        Self {
            mode: Mode::Exhaustive { bound: preemptions },
            max_schedules: 100_000,
        }
    }

    /// `runs` random schedules, the `i`-th from seed `seed + i`.
    pub fn random(seed: u64, runs: usize) -> Self {
        Self {
            mode: Mode::Random { seed, runs },
            max_schedules: runs,
        }
    }

    /// Exactly the schedule a [`Failure`] reported.
    pub fn replay(schedule: Vec<usize>) -> Self {
        Self {
            mode: Mode::Replay(schedule),
            max_schedules: 1,
        }
    }

    /// Caps the number of schedules.
    pub fn max_schedules(mut self, n: usize) -> Self {
        self.max_schedules = n;
        self
    }

    /// Runs `scenario` once per schedule, each time on a fresh [`Kernel`]. The scenario sets up
    /// (uncontrolled), runs its concurrent part with [`Processors::run`], then checks and
    /// returns `Err` with a description if something is wrong. A bug check or panic is a
    /// failure too.
    pub fn run(&self, scenario: impl Fn(&Kernel, &mut Processors) -> Result<(), String>) -> Exploration {
        let mut prefix: Vec<usize> = match &self.mode {
            Mode::Replay(s) => s.clone(),
            _ => Vec::new(),
        };
        let mut schedules = 0;
        loop {
            let seed = match self.mode {
                Mode::Random { seed, .. } => Some(seed.wrapping_add(schedules as u64)),
                _ => None,
            };
            let bound = match self.mode {
                Mode::Exhaustive { bound } => bound,
                _ => usize::MAX,
            };
            let controller = Arc::new(Controller::new(prefix.clone(), seed, bound));
            let kernel = Kernel::new();
            let mut cpus = Processors {
                kernel: kernel.clone(),
                controller: Arc::clone(&controller),
                ran: false,
            };
            let result = catch_unwind(AssertUnwindSafe(|| scenario(&kernel, &mut cpus)));
            schedules += 1;
            let decisions = lock(&controller.inner).decisions.clone();
            let crash = kernel
                .reports()
                .into_iter()
                .find(|r| r.rule.severity() == crate::Severity::Fatal);
            let message = match (result, crash) {
                (_, Some(report)) => Some(format!("bug check: {report}")),
                (Ok(Ok(())), None) => None,
                (Ok(Err(e)), None) => Some(e),
                (Err(p), None) => Some(panic_text(&p)),
            };
            if let Some(message) = message {
                let schedule = decisions.iter().map(|d| d.0).collect();
                return Exploration {
                    schedules,
                    failure: Some(Failure {
                        schedule,
                        seed,
                        message,
                    }),
                };
            }
            if schedules >= self.max_schedules {
                break;
            }
            match self.mode {
                Mode::Exhaustive { .. } => match next_prefix(&decisions) {
                    Some(p) => prefix = p,
                    None => break,
                },
                Mode::Random { runs, .. } if schedules < runs => {}
                _ => break,
            }
        }
        Exploration {
            schedules,
            failure: None,
        }
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(b) = p.downcast_ref::<crate::BugCheck>() {
        format!("bug check: {b}")
    } else {
        "panic".into()
    }
}

/// The next schedule in depth-first order: the last decision that has an untried option,
/// advanced by one, with everything after it left to the defaults.
fn next_prefix(decisions: &[(usize, usize)]) -> Option<Vec<usize>> {
    let at = decisions.iter().rposition(|&(choice, options)| choice + 1 < options)?;
    let mut p: Vec<usize> = decisions[..at].iter().map(|d| d.0).collect();
    p.push(decisions[at].0 + 1);
    Some(p)
}

/// The scenario's processors.
pub struct Processors {
    kernel: Kernel,
    controller: Arc<Controller>,
    ran: bool,
}

/// One processor's work in a scenario.
pub type Work<'a> = Box<dyn FnOnce() + Send + 'a>;

impl Processors {
    /// Runs each closure on its own simulated processor, one at a time, switching only where
    /// the simulator allows pre-emption, in the order the current schedule dictates. Returns
    /// when all are done (or one bug-checked).
    ///
    /// # Panics
    /// If called twice in one scenario run.
    pub fn run(&mut self, work: Vec<Work<'_>>) {
        assert!(!self.ran, "Processors::run is called once per scenario");
        self.ran = true;
        let n = work.len();
        let state = &self.kernel.state;
        state.sched.install(Arc::clone(&self.controller));
        self.controller.start(n);
        std::thread::scope(|s| {
            for (i, w) in work.into_iter().enumerate() {
                let kernel = &self.kernel;
                let controller = &self.controller;
                s.spawn(move || {
                    ME.with(|m| m.set(Some(i)));
                    controller.wait_turn(i);
                    // A bug check is recorded in the kernel; the scenario run reports it.
                    let _ = catch_unwind(AssertUnwindSafe(|| kernel.run_catching(w)));
                    controller.exit(i);
                    ME.with(|m| m.set(None));
                });
            }
        });
        state.sched.uninstall();
    }
}

/// The token passing between a scenario's processors.
pub(crate) struct Controller {
    inner: Mutex<Inner>,
    cv: Condvar,
}

struct Inner {
    running: Option<usize>,
    alive: Vec<usize>,
    prefix: Vec<usize>,
    rng: Option<u64>,
    decisions: Vec<(usize, usize)>,
    preemptions: usize,
    bound: usize,
}

impl Inner {
    /// Chooses among `options` (option 0 is the default: carry on / the first processor).
    fn decide(&mut self, options: usize, preemption: bool) -> usize {
        let d = self.decisions.len();
        let mut choice = if d < self.prefix.len() {
            self.prefix[d].min(options - 1)
        } else if let Some(x) = &mut self.rng {
            // xorshift64*
            *x ^= *x >> 12;
            *x ^= *x << 25;
            *x ^= *x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) % options as u64) as usize
        } else {
            0
        };
        let mut recorded_options = options;
        if preemption {
            if choice != 0 && self.preemptions >= self.bound {
                choice = 0;
            }
            if self.preemptions >= self.bound {
                recorded_options = 1;
            }
            if choice != 0 {
                self.preemptions += 1;
            }
        }
        self.decisions.push((choice, recorded_options));
        choice
    }
}

impl Controller {
    fn new(prefix: Vec<usize>, seed: Option<u64>, bound: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                running: None,
                alive: Vec::new(),
                prefix,
                rng: seed.map(|s| s | 1),
                decisions: Vec::new(),
                preemptions: 0,
                bound,
            }),
            cv: Condvar::new(),
        }
    }

    fn start(&self, n: usize) {
        let mut g = lock(&self.inner);
        g.alive = (0..n).collect();
        if n > 0 {
            let first = g.decide(n, false);
            g.running = Some(first);
        }
        self.cv.notify_all();
    }

    fn wait_turn(&self, me: usize) {
        let g = lock(&self.inner);
        drop(
            self.cv
                .wait_while(g, |g| g.running != Some(me))
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    }

    fn exit(&self, me: usize) {
        let mut g = lock(&self.inner);
        g.alive.retain(|&t| t != me);
        g.running = if g.alive.is_empty() {
            None
        } else {
            let n = g.alive.len();
            let c = g.decide(n, false);
            Some(g.alive[c])
        };
        self.cv.notify_all();
    }

    /// A pre-emption point on the calling thread: maybe let another processor run. False only
    /// for a spinner that no other processor can ever release, while it unwinds (outside an
    /// unwind that is a deadlock, and panics).
    #[must_use]
    pub(crate) fn switch(&self, _point: &'static str, spinning: bool) -> bool {
        let Some(me) = ME.with(Cell::get) else {
            return true;
        };
        let mut g = lock(&self.inner);
        // Carry on first, then the others in order; a spinner waits for someone else.
        let mut options: Vec<usize> = Vec::with_capacity(g.alive.len());
        if !spinning {
            options.push(me);
        }
        options.extend(g.alive.iter().copied().filter(|&t| t != me));
        if options.is_empty() {
            drop(g);
            if std::thread::panicking() {
                return false;
            }
            panic!("deadlock: processor {me} spins on a lock that no other processor can release");
        }
        let c = g.decide(options.len(), !spinning);
        let next = options[c];
        if next == me {
            return true;
        }
        g.running = Some(next);
        self.cv.notify_all();
        drop(
            self.cv
                .wait_while(g, |g| g.running != Some(me))
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_first_order_advances_the_last_open_decision() {
        assert_eq!(next_prefix(&[(0, 2), (0, 2)]), Some(vec![0, 1]));
        assert_eq!(next_prefix(&[(0, 2), (1, 2)]), Some(vec![1]));
        assert_eq!(next_prefix(&[(1, 2), (1, 2)]), None);
        assert_eq!(next_prefix(&[(0, 1)]), None);
    }

    #[test]
    fn the_bound_stops_branching() {
        let mut i = Inner {
            running: None,
            alive: vec![],
            prefix: vec![1, 1],
            rng: None,
            decisions: vec![],
            preemptions: 0,
            bound: 1,
        };
        assert_eq!(i.decide(2, true), 1);
        assert_eq!(i.decide(2, true), 0, "second pre-emption is over the bound");
        assert_eq!(i.decisions, [(1, 2), (0, 1)]);
    }

    #[test]
    fn two_switching_processors_give_every_interleaving() {
        // Each processor records its id at three pre-emption points: with a bound of 2
        // pre-emptions, several distinct orders come out, all complete.
        let orders = Mutex::new(std::collections::BTreeSet::new());
        let report = Explorer::exhaustive(2).run(|kernel, cpus| {
            let log = Mutex::new(Vec::new());
            cpus.run(
                (0..2)
                    .map(|id| {
                        let log = &log;
                        Box::new(move || {
                            for _ in 0..3 {
                                lock(log).push(id);
                                crate::sched::preempt("test");
                            }
                        }) as Work<'_>
                    })
                    .collect(),
            );
            let _ = kernel;
            let l = std::mem::take(&mut *lock(&log));
            if l.len() != 6 {
                return Err(format!("{l:?}"));
            }
            lock(&orders).insert(l);
            Ok(())
        });
        assert!(report.failure.is_none(), "{:?}", report.failure);
        let orders = orders.into_inner().unwrap();
        assert!(orders.len() >= 6, "{} orders", orders.len());
        assert!(report.schedules >= orders.len());
        // 3+3 events, switching at most twice: AAABBB, BBBAAA, and the one-or-two-switch mixes.
        assert!(orders.contains(&vec![0, 0, 0, 1, 1, 1]) && orders.contains(&vec![1, 0, 0, 0, 1, 1]));
    }
}
