//! The startio sample on the simulator: transfers happen one at a time in the order sent, bad
//! input is rejected, queued and in-progress requests can be cancelled, and a stress run with
//! random cancellation over four threads completes every request exactly once.

// Under Miri only: DbgPrintEx in Rust, since Miri cannot call the simulator's C one.

use startio::{CAPACITY, StartIoSample};
use wdm::Status;
use wdm_sim::Kernel;
use wdm_sim::stress::Stress;

const NAME: &str = r"\\.\StartIo";

fn load(kernel: &Kernel) -> wdm_sim::Driver<'_> {
    kernel
        .load("startio", wdm::entry::<StartIoSample>)
        .expect("DriverEntry succeeds")
}

#[test]
fn a_write_then_a_read_returns_the_data() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    let w = file.write(b"hello, StartIo");
    assert_eq!((w.status, w.information), (Status::SUCCESS.raw(), 14));
    let r = file.read(64);
    assert_eq!(r.status, Status::SUCCESS.raw());
    assert_eq!(r.data(), b"hello, StartIo", "as many bytes as are stored");
    assert_eq!(file.read(5).data(), b"hello", "as many bytes as fit");
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn overlapped_requests_take_effect_in_the_order_sent() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    let w1 = file.start_write(b"first");
    let r1 = file.start_read(16);
    let w2 = file.start_write(b"second");
    let r2 = file.start_read(16);
    for p in [&w1, &r1, &w2, &r2] {
        assert_eq!(p.returned, Status::PENDING.raw(), "queued for StartIo");
    }
    assert_eq!(w1.wait().status, Status::SUCCESS.raw());
    assert_eq!(r1.wait().data(), b"first");
    assert_eq!(w2.wait().status, Status::SUCCESS.raw());
    assert_eq!(r2.wait().data(), b"second");
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn bad_requests_fail_with_the_right_status() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    assert_eq!(
        file.write(&vec![0; CAPACITY + 1]).status,
        Status::INVALID_BUFFER_SIZE.raw(),
        "too long a write"
    );
    let empty = file.read(0);
    assert_eq!((empty.status, empty.information), (Status::SUCCESS.raw(), 0));
    assert_eq!(
        file.ioctl(0x22_2000, &[], 0).status,
        Status::INVALID_DEVICE_REQUEST.raw()
    );
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn queued_and_in_progress_requests_can_be_cancelled() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    // A long write occupies the hardware (41 ms); the read behind it waits in the device queue.
    let big = file.start_write(&vec![7; CAPACITY]);
    let queued = file.start_read(8);
    assert!(queued.cancel(), "the Cancel routine takes it out of the device queue");
    assert_eq!(queued.wait().status, Status::CANCELLED.raw());
    assert!(
        !big.cancel(),
        "in progress: no Cancel routine to call, the flag is set and the DPC sees it"
    );
    assert_eq!(big.wait().status, Status::CANCELLED.raw());
    // The device goes on with the next request.
    assert_eq!(file.write(b"x").status, Status::SUCCESS.raw());
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn stress_transfers_with_random_cancellation_over_four_threads() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    let report = Stress::new(100_000).threads(4).window(16).cancel_percent(30).run(
        &kernel,
        |rng, _| {
            let len = 1 + rng.below(16) as usize;
            if rng.chance(50) {
                file.start_write(&vec![len as u8; len])
            } else {
                file.start_read(len)
            }
        },
        |result, cancelled| match result.status {
            // A read returns a prefix of some write: all its bytes are that write's length.
            s if s == Status::SUCCESS.raw() => match result.data() {
                d if d.iter().all(|&b| usize::from(b) >= d.len()) => Ok(()),
                d => Err(format!("read returned {d:?}")),
            },
            s if s == Status::CANCELLED.raw() && cancelled => Ok(()),
            s => Err(format!("status {s:#x} (cancel attempted: {cancelled})")),
        },
    );
    println!("startio stress: {report}");
    assert!(report.failures.is_empty(), "{report}");
    assert!(report.operations() >= 100_000);
    assert!(report.count(Status::SUCCESS.raw()) > 0 && report.count(Status::CANCELLED.raw()) > 0);
    file.close();
    driver.unload();
    kernel.assert_clean();
}

/// The scenario `cargo xtask samples` shows: a write and a read through StartIo, then a queued
/// read cancelled while a long write is in progress.
#[test]
fn scenario_timeline() {
    let kernel = Kernel::new();
    kernel.trace();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    assert_eq!(file.write(b"abc").status, Status::SUCCESS.raw());
    assert_eq!(file.read(3).data(), b"abc");
    let big = file.start_write(&vec![1; CAPACITY]);
    let queued = file.start_read(3);
    assert!(queued.cancel());
    assert_eq!(queued.wait().status, Status::CANCELLED.raw());
    assert_eq!(big.wait().status, Status::SUCCESS.raw());
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
    let points = wdm_sim::Kernel::low_resources_sweep("startio", wdm::entry::<startio::StartIoSample>).unwrap();
    println!("startio: {points} allocation points in DriverEntry, each failed once");
    // the device, its link, the state, the registry, the timer
    assert_eq!(points, 5);
}
