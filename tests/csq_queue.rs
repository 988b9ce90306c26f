//! The framework's queue on the system's IoCsq routines (`CsqQueue`), on the simulator: the
//! tests `IrpQueue` has (tests/queue.rs, and its attacks in tests/hostile.rs and tests/review.rs),
//! for this queue. Reads wait in the queue, an IOCTL drains one, cleanup cancels the caller's;
//! cancellation races insertion, re-insertion and removal safely in every explored schedule;
//! the queue's block outlives the cancel routines in flight; a drop under a lock, a forgotten
//! queue and a panicking predicate are harmless.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use wdm::{
    CsqQueue, DeviceOptions, Dispatch, Driver, DriverObject, FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, Irp, Method,
    Outcome, SpinLock, Status, Unlocked, ctl_code, utf16,
};
use wdm_sim::explore::{Explorer, Work};
use wdm_sim::{Kernel, Rule};

const DEVICE: DeviceOptions = DeviceOptions::new()
    .name(utf16!("\\Device\\CsqQueued"))
    .symbolic_link(utf16!("\\DosDevices\\CsqQueued"));
const NAME: &str = r"\\.\CsqQueued";

/// Completes the oldest read with information 1 (the IOCTL's information: 1 if one was).
const DRAIN: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x900, Method::Buffered, FILE_ANY_ACCESS);
/// Takes the oldest read out and queues it again at the tail.
const REQUEUE: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x901, Method::Buffered, FILE_ANY_ACCESS);
/// Completes the read with the sequence number in the input (information = its number + 1).
const TAKE: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x902, Method::Buffered, FILE_ANY_ACCESS);
/// Information: how many reads are queued, and whether the sequence numbers are in order.
const COUNT: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x903, Method::Buffered, FILE_ANY_ACCESS);
/// Completes every queued read with STATUS_DEVICE_BUSY.
const FLUSH: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x904, Method::Buffered, FILE_ANY_ACCESS);
/// The attack of the test's driver (drop or forget the queue, a panicking predicate).
const ATTACK: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x905, Method::Buffered, FILE_ANY_ACCESS);

fn ok<'irp, D>(_: &D, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    irp.complete(Status::SUCCESS, cx).into()
}

fn code(irp: &mut Irp<'_>) -> Option<u32> {
    irp.ioctl().map(|i| i.code())
}

/// Reads wait in a `CsqQueue<u32>` with their sequence numbers.
struct Queued {
    queue: CsqQueue<u32>,
    next: AtomicU32,
}

impl Driver for Queued {
    const DISPATCH: Dispatch<Self> = Dispatch::new()
        .create(ok)
        .close(ok)
        .cleanup(Self::cleanup)
        .read(Self::read)
        .device_control(Self::control);

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        driver.create_device(&DEVICE)?;
        Ok(Queued {
            queue: CsqQueue::new()?,
            next: AtomicU32::new(0),
        })
    }
}

impl Queued {
    fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let (pending, pended) = irp.mark_pending();
        self.queue.insert_with(pending, n, cx);
        pended.into()
    }

    fn control<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let information = match code(&mut irp) {
            Some(DRAIN) => self
                .queue
                .remove_next(cx)
                .map(|read| read.complete_with(Status::SUCCESS, 1, cx))
                .is_some()
                .into(),
            Some(REQUEUE) => match self.queue.remove_next_with(cx) {
                Some((read, n)) => {
                    self.queue.insert_with(read, n, cx); // cancelled meanwhile: completed here
                    1
                }
                None => 0,
            },
            Some(TAKE) => {
                let wanted = irp
                    .ioctl()
                    .and_then(|i| {
                        i.buffered()
                            .ok()
                            .map(|b| u32::from(b.input().first().copied().unwrap_or(0)))
                    })
                    .unwrap_or(0);
                match self.queue.remove_first_with(|q| q.context() == wanted, cx) {
                    Some((read, n)) => {
                        read.complete_with(Status::SUCCESS, n as usize + 1, cx);
                        n as usize + 1
                    }
                    None => 0,
                }
            }
            Some(COUNT) => {
                let (mut n, mut last, mut ordered) = (0, None, true);
                self.queue.for_each(
                    |q| {
                        n += 1;
                        ordered &= last.is_none_or(|l| l < q.context());
                        last = Some(q.context());
                    },
                    cx,
                );
                n * 2 + usize::from(ordered)
            }
            Some(FLUSH) => self.queue.complete_all(Status::DEVICE_BUSY, cx),
            _ => return irp.complete(Status::INVALID_DEVICE_REQUEST, cx).into(),
        };
        irp.complete_with(Status::SUCCESS, information, cx).into()
    }

    fn cleanup<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        self.queue.cancel_file(irp.file_object(), cx);
        irp.complete(Status::SUCCESS, cx).into()
    }
}

fn load(kernel: &Kernel) -> wdm_sim::Driver<'_> {
    kernel.load("csqqueued", wdm::entry::<Queued>).unwrap()
}

#[test]
fn reads_wait_drain_in_order_and_cancel() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    let reads: Vec<_> = (0..3).map(|_| file.start_read(1)).collect();
    assert!(reads.iter().all(|r| r.returned == Status::PENDING.raw()));
    assert_eq!(file.ioctl(COUNT, &[], 0).information, 3 * 2 + 1, "three, in order");
    assert!(reads[1].cancel(), "the system's cancel routine ran");
    assert_eq!(
        reads[1].wait_for(Duration::from_secs(1)).unwrap().status,
        Status::CANCELLED.raw()
    );
    assert_eq!(file.ioctl(DRAIN, &[], 0).information, 1);
    assert!(
        reads[0].is_done() && !reads[2].is_done(),
        "FIFO, the cancelled one skipped"
    );
    assert_eq!(file.ioctl(DRAIN, &[], 0).information, 1);
    assert_eq!(file.ioctl(DRAIN, &[], 0).information, 0, "empty");
    assert_eq!(file.ioctl(COUNT, &[], 0).information, 1);
    for r in reads {
        assert!([Status::SUCCESS.raw(), Status::CANCELLED.raw()].contains(&r.wait().status));
    }
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_predicate_removes_the_matching_read_and_requeuing_keeps_the_rest_in_order() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    let reads: Vec<_> = (0..4).map(|_| file.start_read(1)).collect();
    assert_eq!(file.ioctl(TAKE, &[2], 0).information, 3, "read 2 taken by its context");
    assert_eq!(reads[2].wait_for(Duration::from_secs(1)).unwrap().information, 3);
    assert_eq!(file.ioctl(TAKE, &[2], 0).information, 0, "no longer queued");
    assert_eq!(file.ioctl(REQUEUE, &[], 0).information, 1, "read 0 to the tail");
    assert_eq!(
        file.ioctl(COUNT, &[], 0).information,
        3 * 2,
        "1, 3, 0: out of order now"
    );
    assert_eq!(file.ioctl(DRAIN, &[], 0).information, 1);
    assert!(reads[1].is_done() && !reads[0].is_done() && !reads[3].is_done());
    assert_eq!(file.ioctl(FLUSH, &[], 0).information, 2);
    for (n, r) in reads.into_iter().enumerate() {
        let expected = if n == 0 || n == 3 {
            Status::DEVICE_BUSY
        } else {
            Status::SUCCESS
        };
        assert_eq!(r.wait().status, expected.raw(), "read {n}");
    }
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn cleanup_cancels_only_the_closing_handles_reads_and_unload_empties_the_queue() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let a = kernel.open(NAME).unwrap();
    let b = kernel.open(NAME).unwrap();
    let ra: Vec<_> = (0..3).map(|_| a.start_read(1)).collect();
    let rb = b.start_read(1);
    a.close();
    for r in ra {
        assert_eq!(r.wait().status, Status::CANCELLED.raw());
    }
    assert!(!rb.is_done());
    // Unloading with a read still queued: dropping the queue completes it as cancelled.
    let rb2 = b.start_read(1);
    b.ioctl(DRAIN, &[], 0);
    assert_eq!(rb.wait().status, Status::SUCCESS.raw());
    std::mem::forget(b);
    driver.unload();
    assert_eq!(rb2.wait().status, Status::CANCELLED.raw());
    assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
    assert!(kernel.pool().is_empty(), "{:?}", kernel.pool());
}

#[test]
fn insert_cancel_and_remove_race_safely_in_every_schedule() {
    let report = Explorer::exhaustive(2).run(|kernel, cpus| {
        let driver = kernel
            .load("csqqueued", wdm::entry::<Queued>)
            .map_err(|s| format!("{s:#x}"))?;
        let file = kernel.open(NAME).map_err(|s| format!("{s:#x}"))?;
        let first = file.start_read(1);
        let second = Mutex::new(None);
        let work: Vec<Work<'_>> = vec![
            Box::new(|| {
                file.ioctl(DRAIN, &[], 0);
            }),
            Box::new(|| {
                first.cancel();
            }),
            Box::new(|| {
                *second.lock().unwrap() = Some(file.start_read(1));
            }),
        ];
        cpus.run(work);
        file.ioctl(DRAIN, &[], 0);
        file.ioctl(DRAIN, &[], 0);
        let a = first.wait_for(Duration::from_secs(2)).ok_or("first never completed")?;
        let second = second.into_inner().unwrap().ok_or("no second read")?;
        let b = second
            .wait_for(Duration::from_secs(2))
            .ok_or("second never completed")?;
        if ![Status::SUCCESS.raw(), Status::CANCELLED.raw()].contains(&a.status) || b.status != Status::SUCCESS.raw() {
            return Err(format!("{:#x} {:#x}", a.status, b.status));
        }
        file.close();
        driver.unload();
        kernel.check_clean()
    });
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert!(report.schedules > 50, "{} schedules", report.schedules);
}

#[test]
fn a_cancel_racing_a_requeue_completes_the_read_once_as_cancelled() {
    // CPU0 takes the read out of the queue and inserts it again; CPU1 cancels it. The cancel
    // lands while it is queued (the system's cancel routine completes it), while it is out (no
    // cancel routine: IoCancelIrp only sets Cancel, and IoCsqInsertIrpEx finds it cancelled and
    // completes it through CompleteCanceledIrp), or during the insertion. Every time: once, as
    // cancelled, nothing reported, the block freed.
    let out_of_the_queue = AtomicUsize::new(0);
    let report = Explorer::exhaustive(2).run(|kernel, cpus| {
        let driver = kernel
            .load("csqqueued", wdm::entry::<Queued>)
            .map_err(|s| format!("{s:#x}"))?;
        let file = kernel.open(NAME).map_err(|s| format!("{s:#x}"))?;
        let read = file.start_read(1);
        let routine_ran = Mutex::new(true);
        let work: Vec<Work<'_>> = vec![
            Box::new(|| {
                file.ioctl(REQUEUE, &[], 0);
            }),
            Box::new(|| {
                *routine_ran.lock().unwrap() = read.cancel();
            }),
        ];
        cpus.run(work);
        let r = read
            .wait_for(Duration::from_secs(2))
            .ok_or("the read never completed")?;
        if r.status != Status::CANCELLED.raw() {
            return Err(format!("read: {:#x}", r.status));
        }
        if !routine_ran.into_inner().unwrap() {
            out_of_the_queue.fetch_add(1, Ordering::Relaxed);
        }
        file.close();
        driver.unload();
        kernel.check_clean()
    });
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert!(report.schedules > 10, "{} schedules", report.schedules);
    assert!(
        out_of_the_queue.load(Ordering::Relaxed) > 0,
        "some schedule cancels the read while it is out of the queue"
    );
}

#[test]
fn a_stress_run_against_a_driver_that_never_answers_fails_fast() {
    // Reads wait in the queue until an IOCTL drains them; the stress run never sends one.
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    let began = std::time::Instant::now();
    let report = wdm_sim::stress::Stress::new(10_000)
        .threads(2)
        .window(4)
        .cancel_percent(0)
        .timeout(Duration::from_millis(200))
        .run(&kernel, |_, _| file.start_read(1), |_, _| Ok(()));
    assert!(!report.failures.is_empty(), "{report}");
    assert!(report.requests < 100, "it stopped starting requests: {report}");
    assert!(began.elapsed() < Duration::from_secs(5), "{:?}", began.elapsed());
    file.close(); // cleanup cancels what is still queued
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_queue_that_cannot_get_pool_fails_cleanly() {
    let kernel = Kernel::new();
    kernel.fail_allocation(0);
    let made = kernel.run(|| CsqQueue::<u64>::new().map(drop));
    assert_eq!(made, Err(Status::INSUFFICIENT_RESOURCES));
    assert!(kernel.pool().is_empty(), "{:?}", kernel.pool());
    assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
}

/// The queue's memory: a queue dropped while a cancel routine IoCancelIrp has already taken is
/// about to lock it (`IrpQueue`'s row R1 in docs/soundness.md, for this queue), and a queue
/// forgotten with IRPs in it. A block freed too early is a use-after-free that only Miri sees
/// (`cargo xtask miri`; checked by mutation), the simulator's pool being the host's heap.
mod lifetime {
    use super::*;

    /// Reads wait in a queue the driver can drop (or forget) at any time (an IOCTL).
    struct Dropper<const FORGET: bool> {
        queue: Mutex<Option<CsqQueue>>,
    }

    impl<const FORGET: bool> Driver for Dropper<FORGET> {
        const DISPATCH: Dispatch<Self> = Dispatch::new()
            .create(ok)
            .close(ok)
            .read(Self::read)
            .device_control(Self::drop_queue);

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            driver.create_device(&DEVICE)?;
            Ok(Dropper {
                queue: Mutex::new(Some(CsqQueue::new()?)),
            })
        }
    }

    impl<const FORGET: bool> Dropper<FORGET> {
        fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let queue = self.queue.lock().unwrap();
            match queue.as_ref() {
                Some(queue) => {
                    let (pending, pended) = irp.mark_pending();
                    queue.insert(pending, cx);
                    pended.into()
                }
                None => irp.complete(Status::INVALID_DEVICE_STATE, cx).into(),
            }
        }

        fn drop_queue<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let queue = self.queue.lock().unwrap().take();
            if FORGET {
                std::mem::forget(queue); // the attack: its IRPs stay queued, its block leaks
            } else {
                drop(queue); // completes what is still queued with STATUS_CANCELLED
            }
            irp.complete(Status::SUCCESS, cx).into()
        }
    }

    #[test]
    fn a_queue_dropped_while_its_cancel_routine_runs_is_freed_after_it() {
        // CPU0 cancels the queued read (IoCancelIrp calls the system's cancel routine, which
        // releases the cancel lock, then takes the queue's lock through AcquireLock); CPU1 drops
        // the queue. In every schedule the read completes once, as cancelled, and the queue's
        // pool block is freed exactly once, after the cancel routine is done with it.
        let report = Explorer::exhaustive(2).run(|kernel, cpus| {
            let driver = kernel
                .load("dropper", wdm::entry::<Dropper<false>>)
                .map_err(|s| format!("{s:#x}"))?;
            let file = kernel.open(NAME).map_err(|s| format!("{s:#x}"))?;
            let read = file.start_read(1);
            let work: Vec<Work<'_>> = vec![
                Box::new(|| {
                    read.cancel();
                }),
                Box::new(|| {
                    file.ioctl(ATTACK, &[], 0);
                }),
            ];
            cpus.run(work);
            let r = read
                .wait_for(Duration::from_secs(2))
                .ok_or("the read never completed")?;
            if r.status != Status::CANCELLED.raw() {
                return Err(format!("read: {:#x}", r.status));
            }
            file.close();
            driver.unload();
            kernel.check_clean()
        });
        assert!(report.failure.is_none(), "{:?}", report.failure);
        assert!(report.schedules > 10, "{} schedules", report.schedules);
    }

    #[test]
    fn a_forgotten_queue_leaks_its_block_and_its_reads_can_still_be_cancelled() {
        let kernel = Kernel::new();
        let driver = kernel.load("dropper", wdm::entry::<Dropper<true>>).unwrap();
        let file = kernel.open(NAME).unwrap();
        let reads: Vec<_> = (0..2).map(|_| file.start_read(1)).collect();
        file.ioctl(ATTACK, &[], 0);
        assert_eq!(file.read(1).status, Status::INVALID_DEVICE_STATE.raw(), "no queue now");
        for r in reads {
            assert!(r.cancel(), "the system's cancel routine still runs");
            assert_eq!(r.wait().status, Status::CANCELLED.raw());
        }
        file.close();
        driver.unload();
        // The block is leaked (the last reference was the forgotten queue's), nothing else.
        let reports = kernel.take_reports();
        assert!(reports.len() == 1 && reports[0].rule == Rule::PoolLeak, "{reports:?}");
        assert_eq!(kernel.pool().len(), 1, "{:?}", kernel.pool());
    }
}

/// The queue in a driver lock, dropped inside the lock's closure: its drop takes the IRPs out
/// at DISPATCH_LEVEL and their device's DPC completes them after the lock (as for `IrpQueue`,
/// tests/review.rs).
mod dropped_under_a_lock {
    use super::*;

    struct Locked {
        queue: SpinLock<Option<CsqQueue>>,
        spare: Mutex<Option<CsqQueue>>,
    }

    impl Driver for Locked {
        const DISPATCH: Dispatch<Self> = Dispatch::new()
            .create(ok)
            .close(ok)
            .read(Self::read)
            .device_control(Self::control);

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            driver.create_device(&DEVICE)?;
            Ok(Locked {
                queue: SpinLock::new(None),
                spare: Mutex::new(Some(CsqQueue::new()?)),
            })
        }
    }

    impl Locked {
        fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            // Inserting needs the proof: the queue goes out of the lock first.
            let queue = self
                .queue
                .with(cx, Option::take)
                .or_else(|| self.spare.lock().unwrap().take());
            let Some(queue) = queue else {
                return irp.complete(Status::INVALID_DEVICE_STATE, cx).into();
            };
            let (pending, pended) = irp.mark_pending();
            queue.insert(pending, cx);
            drop(self.queue.with(cx, |q| q.replace(queue)));
            pended.into()
        }

        fn control<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            self.queue.with(cx, |q| *q = None); // the queue, with its IRPs, dropped under the lock
            irp.complete(Status::SUCCESS, cx).into()
        }
    }

    #[test]
    fn dropping_a_queue_under_a_lock_completes_after_the_lock() {
        let kernel = Kernel::new();
        let driver = kernel.load("locked", wdm::entry::<Locked>).unwrap();
        let file = kernel.open(NAME).unwrap();
        let reads: Vec<_> = (0..2).map(|_| file.start_read(1)).collect();
        file.ioctl(ATTACK, &[], 0);
        for r in reads {
            assert_eq!(r.wait().status, Status::CANCELLED.raw());
        }
        file.close();
        driver.unload();
        kernel.assert_clean(); // no CalledHoldingSpinLock: completed by the DPC
    }
}

/// A predicate removal, a `for_each` walk and `complete_all` race with two cancellations, in
/// every schedule with up to two pre-emptions (tests/review.rs's `queue_races`, for this queue).
#[test]
fn predicate_walk_and_flush_race_with_cancels() {
    let report = Explorer::exhaustive(2).run(|kernel, cpus| {
        let driver = kernel
            .load("csqqueued", wdm::entry::<Queued>)
            .map_err(|s| format!("{s:#x}"))?;
        let file = kernel.open(NAME).map_err(|s| format!("{s:#x}"))?;
        let reads: Vec<_> = (0..3).map(|_| file.start_read(1)).collect();
        let work: Vec<Work<'_>> = vec![
            Box::new(|| {
                reads[1].cancel();
            }),
            Box::new(|| {
                file.ioctl(COUNT, &[], 0);
                file.ioctl(TAKE, &[1], 0);
            }),
            Box::new(|| {
                reads[2].cancel();
                file.ioctl(FLUSH, &[], 0);
            }),
        ];
        cpus.run(work);
        file.ioctl(FLUSH, &[], 0);
        for (n, r) in reads.into_iter().enumerate() {
            let r = r
                .wait_for(Duration::from_secs(2))
                .ok_or(format!("read {n} never completed"))?;
            let allowed = [
                Status::SUCCESS.raw(),
                Status::CANCELLED.raw(),
                Status::DEVICE_BUSY.raw(),
            ];
            if !allowed.contains(&r.status) {
                return Err(format!("read {n}: {:#x}", r.status));
            }
        }
        file.close();
        driver.unload();
        kernel.check_clean()
    });
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert!(report.schedules > 50, "{} schedules", report.schedules);
}

/// A predicate runs inside the system's IoCsqRemoveNextIrp, which holds the queue's lock: one
/// that panics unwinds through it. The framework releases the lock on the way out, so the queue
/// stays usable (the kernel turns a panic into a bug check; this is for the simulator, where a
/// test may go on).
mod panicking_predicate {
    use super::*;

    struct Panicky {
        queue: CsqQueue,
    }

    impl Driver for Panicky {
        const DISPATCH: Dispatch<Self> = Dispatch::new()
            .create(ok)
            .close(ok)
            .read(Self::read)
            .device_control(Self::control);

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            driver.create_device(&DEVICE)?;
            Ok(Panicky {
                queue: CsqQueue::new()?,
            })
        }
    }

    impl Panicky {
        fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let (pending, pended) = irp.mark_pending();
            self.queue.insert(pending, cx);
            pended.into()
        }

        fn control<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.queue.remove_first(|_| panic!("a predicate that panics"), &mut *cx)
            }));
            assert!(caught.is_err());
            // With the lock left held, these would spin on it (0xF, SpinLockAlreadyOwned).
            let empty = self.queue.is_empty(cx);
            let drained = self.queue.complete_all(Status::SUCCESS, cx);
            irp.complete_with(Status::SUCCESS, usize::from(!empty) + drained, cx)
                .into()
        }
    }

    #[test]
    fn a_panicking_predicate_leaves_the_queue_unlocked() {
        let kernel = Kernel::new();
        let driver = kernel.load("panicky", wdm::entry::<Panicky>).unwrap();
        let file = kernel.open(NAME).unwrap();
        let read = file.start_read(1);
        let r = file.ioctl(ATTACK, &[], 0);
        assert_eq!(
            (r.status, r.information),
            (Status::SUCCESS.raw(), 2),
            "not empty, one drained"
        );
        assert_eq!(read.wait().status, Status::SUCCESS.raw());
        file.close();
        driver.unload();
        kernel.assert_clean();
    }
}
