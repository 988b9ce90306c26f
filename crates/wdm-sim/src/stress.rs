//! Stress runs: many overlapped requests from several threads, a random share of them cancelled
//! while in flight, every result checked.
//!
//! Each thread keeps up to `window` requests in flight. For every request it starts, it may
//! cancel one of its in-flight requests at random (CancelIoEx); when the window is full it waits
//! for the oldest and hands the result to the caller's check, together with whether a cancel
//! was attempted. A request that never completes fails the run (and is reported as 0x135 if it
//! was cancelled), and the run then stops starting requests and gives the rest a short wait, so
//! a hung driver fails the test in seconds; a double completion or any other rule violation is
//! in the kernel's reports, which the caller checks afterwards (for example with
//! [`Kernel::assert_clean`]).
//!
//! ```
//! # use wdm_sim::{Kernel, stress::Stress};
//! # fn demo(kernel: &Kernel, file: &wdm_sim::File<'_>) {
//! let report = Stress::new(10_000).threads(4).run(kernel, |_rng, _thread| {
//!     file.start_read(16)
//! }, |result, cancelled| {
//!     if result.status == 0 || cancelled { Ok(()) } else { Err(format!("{:#x}", result.status)) }
//! });
//! assert_eq!(report.failures, Vec::<String>::new());
//! # }
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::{IoResult, Kernel, Pending};

/// A small, seedable random source (xorshift64*), so a failing run can be repeated.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced by a fixed non-zero value).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A stress run's parameters.
#[derive(Clone, Debug)]
pub struct Stress {
    requests: u64,
    threads: usize,
    window: usize,
    cancel_percent: u64,
    seed: u64,
    timeout: Duration,
}

/// What a stress run did.
#[derive(Clone, Debug, Default)]
pub struct StressReport {
    /// Requests started.
    pub requests: u64,
    /// CancelIoEx calls made on requests in flight.
    pub cancels: u64,
    /// Of those, how many found a cancel routine to call (IoCancelIrp returned TRUE).
    pub cancel_routines_called: u64,
    /// Completions by status.
    pub statuses: BTreeMap<u32, u64>,
    /// Failed checks and requests that never completed (empty when the run passed).
    pub failures: Vec<String>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl StressReport {
    /// Operations performed: requests started plus cancellations attempted.
    pub fn operations(&self) -> u64 {
        self.requests + self.cancels
    }

    /// How many completed with `status`.
    pub fn count(&self, status: i32) -> u64 {
        self.statuses.get(&(status as u32)).copied().unwrap_or(0)
    }
}

impl fmt::Display for StressReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests, {} cancels ({} ran a cancel routine), {} operations in {:.2?};",
            self.requests,
            self.cancels,
            self.cancel_routines_called,
            self.operations(),
            self.elapsed
        )?;
        for (status, n) in &self.statuses {
            write!(f, " {status:#010x}: {n}")?;
        }
        if !self.failures.is_empty() {
            write!(f, "; {} failure(s), first: {}", self.failures.len(), self.failures[0])?;
        }
        Ok(())
    }
}

impl Stress {
    /// `requests` requests in all, over 4 threads, 32 in flight per thread, 30 % cancelled,
    /// seed 1, 10 s for any one request to complete.
    ///
    /// The environment variable `WDM_STRESS_SCALE` multiplies `requests` (a longer run behind a
    /// flag: `WDM_STRESS_SCALE=10 cargo test`).
    pub fn new(requests: u64) -> Self {
        let scale = std::env::var("WDM_STRESS_SCALE")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(1)
            .max(1);
        Self {
            requests: requests * scale,
            threads: 4,
            window: 32,
            cancel_percent: 30,
            seed: 1,
            timeout: Duration::from_secs(10),
        }
    }

    /// The number of threads (processors) issuing requests.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Requests in flight per thread.
    pub fn window(mut self, window: usize) -> Self {
        self.window = window.max(1);
        self
    }

    /// The share of requests for which a random in-flight request is cancelled.
    pub fn cancel_percent(mut self, percent: u64) -> Self {
        self.cancel_percent = percent.min(100);
        self
    }

    /// How long any one request may take before the run counts it as never completed.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The random seed (each thread derives its own from it).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Runs: `start` sends one request (it gets the thread's random source and index), `check`
    /// judges its result given whether a cancel was attempted on it.
    pub fn run<'k>(
        &self,
        kernel: &'k Kernel,
        start: impl Fn(&mut Rng, usize) -> Pending<'k> + Sync,
        check: impl Fn(&IoResult, bool) -> Result<(), String> + Sync,
    ) -> StressReport {
        let began = Instant::now();
        let per_thread = self.requests.div_ceil(self.threads as u64);
        let stuck = AtomicBool::new(false);
        let reports: Vec<StressReport> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..self.threads)
                .map(|t| {
                    let start = &start;
                    let check = &check;
                    let stuck = &stuck;
                    let count = per_thread.min(self.requests.saturating_sub(per_thread * t as u64));
                    kernel.spawn(scope, move || self.thread(t, count, start, check, stuck))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let mut total = StressReport::default();
        for r in reports {
            total.requests += r.requests;
            total.cancels += r.cancels;
            total.cancel_routines_called += r.cancel_routines_called;
            for (s, n) in r.statuses {
                *total.statuses.entry(s).or_default() += n;
            }
            total.failures.extend(r.failures);
        }
        total.elapsed = began.elapsed();
        total
    }

    fn thread<'k>(
        &self,
        index: usize,
        count: u64,
        start: &(impl Fn(&mut Rng, usize) -> Pending<'k> + Sync),
        check: &(impl Fn(&IoResult, bool) -> Result<(), String> + Sync),
        stuck: &AtomicBool,
    ) -> StressReport {
        let mut rng = Rng::new(self.seed ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut report = StressReport::default();
        let mut in_flight: VecDeque<(Pending<'k>, bool)> = VecDeque::new();
        let finish = |(p, cancelled): (Pending<'k>, bool), report: &mut StressReport| {
            let irp = p.irp();
            // Once one request has hung, the rest get a short wait: the run is failing anyway,
            // and should fail in seconds rather than hang for `timeout` per request.
            let timeout = if stuck.load(Ordering::Relaxed) {
                Duration::from_millis(100)
            } else {
                self.timeout
            };
            match p.wait_for(timeout) {
                Some(result) => {
                    *report.statuses.entry(result.status as u32).or_default() += 1;
                    if let Err(e) = check(&result, cancelled) {
                        report.failures.push(e);
                    }
                }
                None => {
                    stuck.store(true, Ordering::Relaxed);
                    report
                        .failures
                        .push(format!("IRP {irp:p} did not complete within {timeout:?}"));
                }
            }
        };
        for _ in 0..count {
            if stuck.load(Ordering::Relaxed) {
                break;
            }
            in_flight.push_back((start(&mut rng, index), false));
            report.requests += 1;
            if rng.chance(self.cancel_percent) {
                let i = rng.below(in_flight.len() as u64) as usize;
                let (p, cancelled) = &mut in_flight[i];
                *cancelled = true;
                report.cancels += 1;
                if p.cancel() {
                    report.cancel_routines_called += 1;
                }
            }
            while in_flight.len() >= self.window {
                let oldest = in_flight.pop_front().expect("the window is not empty");
                finish(oldest, &mut report);
            }
        }
        while let Some(p) = in_flight.pop_front() {
            finish(p, &mut report);
        }
        report
    }
}
