//! The csq sample on the simulator: reads are answered by the worker in order, a queued read
//! can be cancelled, cleanup cancels only the closing handle's reads, unload leaves nothing, and
//! a stress run with random cancellation over four threads completes every read exactly once.

// Under Miri only: DbgPrintEx in Rust, since Miri cannot call the simulator's C one.

use std::time::Duration;

use csq::{Csq, sequence_byte};
use wdm::Status;
use wdm_sim::Kernel;
use wdm_sim::stress::Stress;

const NAME: &str = r"\\.\CancelSafeQueue";

fn load(kernel: &Kernel) -> wdm_sim::Driver<'_> {
    kernel.load("csq", wdm::entry::<Csq>).expect("DriverEntry succeeds")
}

#[test]
fn reads_are_answered_by_the_worker_in_order() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    let reads: Vec<_> = (0..5).map(|_| file.start_read(8)).collect();
    for (n, read) in reads.into_iter().enumerate() {
        assert_eq!(read.returned, Status::PENDING.raw());
        let done = read.wait();
        assert_eq!(done.status, Status::SUCCESS.raw());
        assert_eq!(done.data(), [sequence_byte(n as u32); 8], "read {n}");
    }
    assert_eq!(
        file.read(0).status,
        Status::SUCCESS.raw(),
        "an empty read completes at once"
    );
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_queued_read_can_be_cancelled() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    // Cancel as soon as the request is sent: either the queue's cancel routine completes it
    // (CANCELLED) or the worker got there first (SUCCESS); never both, never neither.
    let mut cancelled = 0;
    for _ in 0..200 {
        let read = file.start_read(4);
        read.cancel();
        let status = read.wait().status;
        assert!(
            [Status::SUCCESS.raw(), Status::CANCELLED.raw()].contains(&status),
            "{status:#x}"
        );
        cancelled += usize::from(status == Status::CANCELLED.raw());
    }
    println!("{cancelled} of 200 reads were cancelled before the worker took them");
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn unhandled_requests_fail_with_invalid_device_request() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    assert_eq!(file.write(&[1]).status, Status::INVALID_DEVICE_REQUEST.raw());
    assert_eq!(
        file.ioctl(0x22_2000, &[], 0).status,
        Status::INVALID_DEVICE_REQUEST.raw()
    );
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn cleanup_cancels_the_closing_handles_reads_only() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let a = kernel.open(NAME).unwrap();
    let b = kernel.open(NAME).unwrap();
    // Hold the worker back by queuing under a kernel-wide pause: reads stay queued until the
    // worker thread gets to them, so issue many and close at once.
    let from_a: Vec<_> = (0..64).map(|_| a.start_read(4)).collect();
    let from_b: Vec<_> = (0..64).map(|_| b.start_read(4)).collect();
    a.close();
    for r in from_a {
        let s = r.wait().status;
        assert!([Status::SUCCESS.raw(), Status::CANCELLED.raw()].contains(&s));
    }
    for r in from_b {
        assert_eq!(
            r.wait().status,
            Status::SUCCESS.raw(),
            "b's reads are not cancelled by a's cleanup"
        );
    }
    b.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn unload_waits_for_the_worker_and_leaks_nothing() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    let reads: Vec<_> = (0..100).map(|_| file.start_read(16)).collect();
    std::mem::forget(file);
    driver.unload();
    for r in reads {
        let s = r
            .wait_for(Duration::from_secs(5))
            .expect("completed by the worker or at unload")
            .status;
        assert!([Status::SUCCESS.raw(), Status::CANCELLED.raw()].contains(&s));
    }
    assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
    assert!(kernel.pool().is_empty(), "{:?}", kernel.pool());
}

#[test]
fn stress_reads_with_random_cancellation_over_four_threads() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    let report = Stress::new(100_000).threads(4).window(32).cancel_percent(30).run(
        &kernel,
        |rng, _| file.start_read(1 + rng.below(64) as usize),
        |result, cancelled| match result.status {
            s if s == Status::SUCCESS.raw() => {
                let data = result.data();
                if data.len() == result.output.len() && data.iter().all(|&b| b == data[0]) {
                    Ok(())
                } else {
                    Err(format!(
                        "read returned {} of {} bytes: {data:?}",
                        data.len(),
                        result.output.len()
                    ))
                }
            }
            s if s == Status::CANCELLED.raw() && cancelled => Ok(()),
            s => Err(format!("status {s:#x} (cancel attempted: {cancelled})")),
        },
    );
    println!("csq stress: {report}");
    assert!(report.failures.is_empty(), "{report}");
    assert!(report.operations() >= 100_000);
    assert!(report.count(Status::SUCCESS.raw()) > 0, "{report}");
    file.close();
    driver.unload();
    kernel.assert_clean();
}

/// The scenario `cargo xtask samples` shows: reads answered by the worker, one cancelled.
#[test]
fn scenario_timeline() {
    let kernel = Kernel::new();
    kernel.trace();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    let reads: Vec<_> = (0..2).map(|_| file.start_read(4)).collect();
    for r in reads {
        assert_eq!(r.wait().status, Status::SUCCESS.raw());
    }
    let r = file.start_read(4);
    r.cancel();
    let status = r.wait().status;
    assert!([Status::SUCCESS.raw(), Status::CANCELLED.raw()].contains(&status));
    file.close();
    driver.unload();
    kernel.assert_clean();
    println!("{}", kernel.timeline());
}

/// Driver Verifier's low-resources simulation, systematically: every allocation DriverEntry
/// makes (pool, device objects, symbolic links) is failed in turn; each load must fail cleanly (an error status, nothing
/// leaked, no rule broken), never bug-check.
#[test]
fn every_allocation_failure_in_driver_entry_is_handled() {
    let points = wdm_sim::Kernel::low_resources_sweep("csq", wdm::entry::<csq::Csq>).unwrap();
    println!("csq: {points} allocation points in DriverEntry, each failed once");
    // the device, its link, the state, the registry, the work item (IoAllocateWorkItem and its block), the queue
    assert_eq!(points, 7);
}
