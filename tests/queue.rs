//! The framework's cancel-safe queue on the simulator (the behaviour of the `general/cancel`
//! sample): reads wait in the queue, an IOCTL drains one, cleanup cancels the caller's, and
//! cancellation races insertion and removal safely in every explored schedule.

use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, Irp, IrpQueue, Outcome, Status, Unlocked, utf16};
use wdm_sim::Kernel;
use wdm_sim::explore::{Explorer, Work};

struct Queued {
    queue: IrpQueue,
}

impl Driver for Queued {
    const DISPATCH: Dispatch<Self> = Dispatch::new()
        .create(Self::ok)
        .close(Self::ok)
        .cleanup(Self::cleanup)
        .read(Self::read)
        .device_control(Self::drain_one);

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        driver.create_device(
            &DeviceOptions::new()
                .name(utf16!("\\Device\\Queued"))
                .symbolic_link(utf16!("\\DosDevices\\Queued")),
        )?;
        Ok(Queued {
            queue: IrpQueue::new()?,
        })
    }
}

impl Queued {
    fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.complete(Status::SUCCESS, cx).into()
    }

    fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let (pending, pended) = irp.mark_pending();
        self.queue.insert(pending, cx);
        pended.into()
    }

    fn drain_one<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let drained = self
            .queue
            .remove_next(cx)
            .map(|read| read.complete_with(Status::SUCCESS, 1, cx))
            .is_some();
        irp.complete_with(Status::SUCCESS, usize::from(drained), cx).into()
    }

    fn cleanup<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        self.queue.cancel_file(irp.file_object(), cx);
        irp.complete(Status::SUCCESS, cx).into()
    }
}

const DRAIN: u32 = 0x222000;

#[test]
fn reads_wait_drain_in_order_and_cancel() {
    let kernel = Kernel::new();
    let driver = kernel.load("queued", wdm::entry::<Queued>).unwrap();
    let file = kernel.open(r"\\.\Queued").unwrap();
    let reads: Vec<_> = (0..3).map(|_| file.start_read(1)).collect();
    assert!(reads[1].cancel());
    assert_eq!(
        reads[1].wait_for(std::time::Duration::from_secs(1)).unwrap().status,
        Status::CANCELLED.raw()
    );
    assert_eq!(file.ioctl(DRAIN, &[], 0).information, 1);
    assert!(
        reads[0].is_done() && !reads[2].is_done(),
        "FIFO, the cancelled one skipped"
    );
    assert_eq!(file.ioctl(DRAIN, &[], 0).information, 1);
    assert_eq!(file.ioctl(DRAIN, &[], 0).information, 0);
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn cleanup_cancels_only_the_closing_handles_reads_and_unload_empties_the_queue() {
    let kernel = Kernel::new();
    let driver = kernel.load("queued", wdm::entry::<Queued>).unwrap();
    let a = kernel.open(r"\\.\Queued").unwrap();
    let b = kernel.open(r"\\.\Queued").unwrap();
    let ra = a.start_read(1);
    let rb = b.start_read(1);
    a.close();
    assert_eq!(ra.wait().status, Status::CANCELLED.raw());
    assert!(!rb.is_done());
    // Unloading with a read still queued: dropping the queue completes it as cancelled.
    let rb2 = b.start_read(1);
    b.ioctl(DRAIN, &[], 0);
    assert_eq!(rb.wait().status, Status::SUCCESS.raw());
    std::mem::forget(b);
    driver.unload();
    assert_eq!(rb2.wait().status, Status::CANCELLED.raw());
}

#[test]
fn insert_cancel_and_remove_race_safely_in_every_schedule() {
    let report = Explorer::exhaustive(2).run(|kernel, cpus| {
        let driver = kernel
            .load("queued", wdm::entry::<Queued>)
            .map_err(|s| format!("{s:#x}"))?;
        let file = kernel.open(r"\\.\Queued").map_err(|s| format!("{s:#x}"))?;
        let first = file.start_read(1);
        let second = std::sync::Mutex::new(None);
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
        let a = first
            .wait_for(std::time::Duration::from_secs(2))
            .ok_or("first never completed")?;
        let second = second.into_inner().unwrap().ok_or("no second read")?;
        let b = second
            .wait_for(std::time::Duration::from_secs(2))
            .ok_or("second never completed")?;
        if ![Status::SUCCESS.raw(), Status::CANCELLED.raw()].contains(&a.status) || b.status != Status::SUCCESS.raw() {
            return Err(format!("{:#x} {:#x}", a.status, b.status));
        }
        file.close();
        driver.unload();
        let reports = kernel.take_reports();
        if reports.is_empty() {
            Ok(())
        } else {
            Err(format!("{reports:?}"))
        }
    });
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert!(report.schedules > 50, "{} schedules", report.schedules);
}

#[test]
fn a_stress_run_against_a_driver_that_never_answers_fails_fast() {
    // Reads wait in the queue until an IOCTL drains them; the stress run never sends one.
    let kernel = Kernel::new();
    let driver = kernel.load("queued", wdm::entry::<Queued>).unwrap();
    let file = kernel.open(r"\\.\Queued").unwrap();
    let began = std::time::Instant::now();
    let report = wdm_sim::stress::Stress::new(10_000)
        .threads(2)
        .window(4)
        .cancel_percent(0)
        .timeout(std::time::Duration::from_millis(200))
        .run(&kernel, |_, _| file.start_read(1), |_, _| Ok(()));
    assert!(!report.failures.is_empty(), "{report}");
    assert!(report.requests < 100, "it stopped starting requests: {report}");
    assert!(
        began.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    file.close(); // cleanup cancels what is still queued
    driver.unload();
    kernel.assert_clean();
}
