//! The cancel sample on the simulator (which implements the IoCsq routines, spec §5.4): reads
//! are answered by the worker in order with their sequence numbers, a short read is refused, a
//! queued read can be cancelled, cleanup cancels only the closing handle's reads, unload cancels
//! what is left, and a stress run with random cancellation over four threads completes every
//! read exactly once.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use cancel::{Cancel, INPUT_DATA_SIZE, input_data};
use wdm::Status;
use wdm_sim::Kernel;
use wdm_sim::stress::Stress;

const NAME: &str = r"\\.\CancelSample";

fn load(kernel: &Kernel) -> wdm_sim::Driver<'_> {
    kernel
        .load("cancel", wdm::entry::<Cancel>)
        .expect("DriverEntry succeeds")
}

fn sequence(data: &[u8]) -> u32 {
    u32::from_le_bytes(data.try_into().expect("an INPUT_DATA"))
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
        assert_eq!(done.information, INPUT_DATA_SIZE, "read {n}: an INPUT_DATA");
        assert_eq!(done.data(), input_data(n as u32), "read {n}");
    }
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_read_shorter_than_input_data_fails_with_buffer_too_small() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    for len in 0..INPUT_DATA_SIZE {
        let r = file.read(len);
        assert_eq!(
            (r.status, r.information),
            (Status::BUFFER_TOO_SMALL.raw(), 0),
            "a {len}-byte read"
        );
    }
    let r = file.read(INPUT_DATA_SIZE);
    assert_eq!(
        (r.status, r.data()),
        (Status::SUCCESS.raw(), input_data(0).as_slice()),
        "the refused reads took no sequence number"
    );
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
fn a_queued_read_can_be_cancelled() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    // Cancel as soon as the request is sent: either the system's cancel routine takes it out of
    // the queue (CANCELLED) or the worker got there first (SUCCESS); never both, never neither.
    let mut cancelled = 0;
    for _ in 0..200 {
        let read = file.start_read(4);
        read.cancel();
        let done = read.wait();
        match done.status {
            s if s == Status::CANCELLED.raw() => {
                assert_eq!(done.information, 0);
                cancelled += 1;
            }
            s => assert_eq!(s, Status::SUCCESS.raw()),
        }
    }
    println!("{cancelled} of 200 reads were cancelled before the worker took them");
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
    // The worker may answer some before the close; whatever is still queued then is a's to
    // cancel, and b's are never touched.
    let from_a: Vec<_> = (0..64).map(|_| a.start_read(4)).collect();
    let from_b: Vec<_> = (0..64).map(|_| b.start_read(4)).collect();
    a.close();
    for r in from_a {
        let s = r.wait().status;
        assert!([Status::SUCCESS.raw(), Status::CANCELLED.raw()].contains(&s), "{s:#x}");
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
fn unload_cancels_what_is_left_and_leaks_nothing() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    let reads: Vec<_> = (0..100).map(|_| file.start_read(16)).collect();
    std::mem::forget(file); // the handle stays open: no cleanup
    driver.unload();
    for r in reads {
        let s = r
            .wait_for(Duration::from_secs(5))
            .expect("completed by the worker or at unload")
            .status;
        assert!([Status::SUCCESS.raw(), Status::CANCELLED.raw()].contains(&s), "{s:#x}");
    }
    assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
    assert!(kernel.pool().is_empty(), "{:?}", kernel.pool());
}

#[test]
fn stress_reads_with_random_cancellation_over_four_threads() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    // Every answered read has a sequence number no other read got: each read is queued once
    // and answered once.
    let seen = Mutex::new(HashSet::new());
    let report = Stress::new(100_000).threads(4).window(32).cancel_percent(30).run(
        &kernel,
        |rng, _| file.start_read(INPUT_DATA_SIZE + rng.below(60) as usize),
        |result, cancelled| match result.status {
            s if s == Status::SUCCESS.raw() => {
                let data = result.data();
                if data.len() != INPUT_DATA_SIZE {
                    return Err(format!("read returned {} bytes: {data:?}", data.len()));
                }
                if seen.lock().unwrap().insert(sequence(data)) {
                    Ok(())
                } else {
                    Err(format!("sequence number {} answered twice", sequence(data)))
                }
            }
            s if s == Status::CANCELLED.raw() && cancelled => Ok(()),
            s => Err(format!("status {s:#x} (cancel attempted: {cancelled})")),
        },
    );
    println!("cancel stress: {report}");
    assert!(report.failures.is_empty(), "{report}");
    assert!(report.operations() >= 100_000);
    assert!(report.count(Status::SUCCESS.raw()) > 0, "{report}");
    assert!(report.count(Status::CANCELLED.raw()) > 0, "{report}");
    file.close();
    driver.unload();
    kernel.assert_clean();
}

/// The scenario `cargo xtask samples` shows: reads answered by the worker, one cancelled, one
/// refused as too short.
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
    assert_eq!(file.read(2).status, Status::BUFFER_TOO_SMALL.raw());
    file.close();
    driver.unload();
    kernel.assert_clean();
    println!("{}", kernel.timeline());
}

/// Driver Verifier's low-resources simulation, systematically: every allocation DriverEntry
/// makes (pool, device objects, symbolic links) is failed in turn; each load must fail cleanly
/// (an error status, nothing leaked, no rule broken), never bug-check.
#[test]
fn every_allocation_failure_in_driver_entry_is_handled() {
    let points = wdm_sim::Kernel::low_resources_sweep("cancel", wdm::entry::<Cancel>).unwrap();
    println!("cancel: {points} allocation points in DriverEntry, each failed once");
    // the device, its link, the state, the registry, the work item (IoAllocateWorkItem and its
    // block), the queue's block
    assert_eq!(points, 7);
}
