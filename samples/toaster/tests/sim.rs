//! The toaster on the simulator, through every PnP sequence: start, I/O through the device
//! interface, rebalance (I/O held while stopped), cancelled stop and removal, orderly removal
//! and its veto, surprise removal with handles and waits outstanding, AddDevice under low
//! resources, and a stress run with I/O racing surprise removal.

use toaster::{CAPACITY, GUID_DEVINTERFACE_TOASTER, HARDWARE_ID, IOCTL_TOASTER_GET_STATS, IOCTL_TOASTER_WAIT, Stats};
use wdm::Status;
use wdm_sim::{DeviceNode, Kernel, NodeState};

fn guid() -> wdm_sys::GUID {
    GUID_DEVINTERFACE_TOASTER.to_raw()
}

/// Loads the toaster, creates its root device, adds and starts it.
fn started(kernel: &Kernel) -> (wdm_sim::Driver<'_>, DeviceNode<'_>) {
    let driver = kernel
        .load("toaster", wdm::pnp::entry::<toaster::Toaster>)
        .expect("DriverEntry");
    let node = kernel.add_root_device(HARDWARE_ID);
    assert_eq!(node.add_driver(&driver), 0, "AddDevice");
    assert_eq!(node.start(), 0, "START");
    (driver, node)
}

fn interface(kernel: &Kernel) -> String {
    let found = kernel.device_interfaces(&guid());
    assert_eq!(found.len(), 1, "one enabled toaster interface: {found:?}");
    found[0].clone()
}

fn stats(file: &wdm_sim::File<'_>) -> Stats {
    let r = file.ioctl(IOCTL_TOASTER_GET_STATS, &[], Stats::SIZE);
    assert_eq!(r.status, 0, "GET_STATS");
    Stats::from_bytes(r.data()).expect("a Stats")
}

#[test]
fn starts_serves_io_through_its_interface_and_surprise_removal_cleans_up() {
    let kernel = Kernel::new();
    let (driver, node) = started(&kernel);
    assert_eq!(node.state(), NodeState::Started);
    let path = interface(&kernel);
    assert!(
        path.to_ascii_lowercase()
            .contains("{781ef630-72b2-11d2-b852-00c04fad5171}"),
        "{path}"
    );
    let file = kernel.open(&path).expect("open by interface");
    assert_eq!(file.write(b"toast").status, 0);
    let r = file.read(64);
    assert_eq!((r.status, r.data()), (0, &b"toast"[..]));
    let s = stats(&file);
    assert_eq!((s.starts, s.reads, s.writes), (1, 1, 1));
    // Bad input gets its status.
    assert_eq!(file.write(&[0; CAPACITY + 1]).status, Status::INVALID_BUFFER_SIZE.raw());
    assert_eq!(
        file.ioctl(IOCTL_TOASTER_GET_STATS, &[], 4).status,
        Status::BUFFER_TOO_SMALL.raw()
    );
    assert_eq!(file.ioctl(0x1234, &[], 0).status, Status::INVALID_DEVICE_REQUEST.raw());
    // Surprise removal with the handle open: the interface goes, I/O fails, REMOVE waits for the
    // close.
    assert_eq!(node.surprise_remove(), 0);
    assert_eq!(node.state(), NodeState::SurpriseRemoved);
    assert!(
        kernel.device_interfaces(&guid()).is_empty(),
        "interface disabled at surprise removal"
    );
    assert_eq!(file.read(8).status, Status::NO_SUCH_DEVICE.raw());
    file.close();
    assert_eq!(node.state(), NodeState::Deleted);
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_wait_is_completed_by_a_write_and_failed_by_surprise_removal() {
    let kernel = Kernel::new();
    let (driver, node) = started(&kernel);
    let file = kernel.open(&interface(&kernel)).unwrap();
    let wait = file.start_ioctl(IOCTL_TOASTER_WAIT, &[], 0);
    assert!(!wait.is_done());
    assert_eq!(file.write(b"abc").status, 0);
    let done = wait.wait();
    assert_eq!((done.status, done.information), (0, 3));
    let stranded = file.start_ioctl(IOCTL_TOASTER_WAIT, &[], 0);
    node.surprise_remove();
    assert_eq!(stranded.wait().status, Status::NO_SUCH_DEVICE.raw());
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn closing_the_handle_cancels_its_waits() {
    let kernel = Kernel::new();
    let (driver, node) = started(&kernel);
    let file = kernel.open(&interface(&kernel)).unwrap();
    let wait = file.start_ioctl(IOCTL_TOASTER_WAIT, &[], 0);
    file.close();
    assert_eq!(wait.wait().status, Status::CANCELLED.raw());
    assert_eq!(node.query_remove_and_remove(), Ok(0));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn orderly_removal_is_vetoed_by_an_open_handle_then_succeeds() {
    let kernel = Kernel::new();
    let (driver, node) = started(&kernel);
    let file = kernel.open(&interface(&kernel)).unwrap();
    // The open handle vetoes: CANCEL_REMOVE follows and the device is started again.
    assert_eq!(node.query_remove_and_remove(), Err(wdm_sys::STATUS_DEVICE_BUSY));
    assert_eq!(file.write(b"still here").status, 0);
    file.close();
    assert_eq!(node.query_remove_and_remove(), Ok(0));
    assert!(node.stack().is_empty(), "detached and deleted at REMOVE");
    assert!(kernel.device_interfaces(&guid()).is_empty());
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn surprise_removal_before_start_and_unload_leave_nothing() {
    let kernel = Kernel::new();
    let driver = kernel.load("toaster", wdm::pnp::entry::<toaster::Toaster>).unwrap();
    let node = kernel.add_root_device(HARDWARE_ID);
    assert_eq!(node.add_driver(&driver), 0);
    assert!(kernel.device_interfaces(&guid()).is_empty(), "not enabled before START");
    node.surprise_remove();
    assert!(node.stack().is_empty());
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn add_device_fails_cleanly_under_low_resources() {
    // Each allocation AddDevice makes fails in turn (device object, hold queue, work item,
    // interface name, the state's queue): AddDevice returns an error and leaves nothing.
    let mut failed_somewhere = 0;
    for n in 0..12 {
        let kernel = Kernel::new();
        let driver = kernel.load("toaster", wdm::pnp::entry::<toaster::Toaster>).unwrap();
        let node = kernel.add_root_device(HARDWARE_ID);
        kernel.fail_allocation(n);
        let status = node.add_driver(&driver);
        if kernel.failed_allocations() > 0 {
            failed_somewhere += 1;
            assert!(status < 0, "AddDevice with allocation {n} failing returned {status:#x}");
            assert!(node.stack().is_empty(), "nothing left on the stack");
        } else {
            assert_eq!(status, 0);
            node.surprise_remove();
        }
        driver.unload();
        kernel.assert_clean();
    }
    assert!(
        failed_somewhere >= 3,
        "the sweep reached AddDevice's allocations ({failed_somewhere})"
    );
}

#[test]
fn io_racing_surprise_removal_completes_every_request_once() {
    let kernel = Kernel::new();
    let (driver, node) = started(&kernel);
    let path = interface(&kernel);
    let file = kernel.open(&path).unwrap();
    let ok = [
        0,
        Status::NO_SUCH_DEVICE.raw(),
        Status::DELETE_PENDING.raw(),
        Status::CANCELLED.raw(),
    ];
    let mut total = 0u64;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..3)
            .map(|t| {
                let file = &file;
                kernel.spawn(s, move || {
                    let mut done = 0u64;
                    for i in 0..400u32 {
                        let pending = match (i + t) % 3 {
                            0 => file.start_write(&i.to_le_bytes()),
                            1 => file.start_read(8),
                            _ => file.start_ioctl(IOCTL_TOASTER_WAIT, &[], 0),
                        };
                        if i % 5 == 0 {
                            pending.cancel();
                        }
                        let r = pending.wait();
                        assert!(ok.contains(&r.status), "unexpected status {:#x}", r.status);
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(5));
        node.surprise_remove();
        // A write completes the waits still queued by threads that raced the removal.
        total = workers.into_iter().map(|w| w.join().unwrap()).sum();
    });
    assert_eq!(total, 1200);
    assert_eq!(file.read(1).status, Status::NO_SUCH_DEVICE.raw());
    file.close();
    assert_eq!(node.state(), NodeState::Deleted);
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn io_is_held_while_stopped_and_drained_in_order_at_restart() {
    let kernel = Kernel::new();
    let (driver, node) = started(&kernel);
    let file = kernel.open(&interface(&kernel)).unwrap();
    node.query_stop_and_stop().expect("the stop is not vetoed");
    let write = file.start_write(b"held");
    let read = file.start_read(16);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(
        !write.is_done() && !read.is_done(),
        "I/O is held while the device is stopped"
    );
    assert_eq!(node.restart(), 0);
    assert_eq!(write.wait().status, 0);
    let r = read.wait();
    assert_eq!(
        (r.status, r.data()),
        (0, &b"held"[..]),
        "drained in order: the write first"
    );
    let s = stats(&file);
    assert_eq!((s.starts, s.stops), (2, 1));
    file.close();
    node.surprise_remove();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_cancelled_stop_releases_the_held_io() {
    let kernel = Kernel::new();
    let (driver, node) = started(&kernel);
    let file = kernel.open(&interface(&kernel)).unwrap();
    let held = std::cell::RefCell::new(None);
    node.query_stop_then_cancel_with(|| {
        *held.borrow_mut() = Some(file.start_write(b"x"));
    })
    .expect("not vetoed");
    let write = held.into_inner().expect("started while stop-pending");
    assert_eq!(
        write.wait().status,
        0,
        "held while stop-pending, dispatched at CANCEL_STOP"
    );
    assert_eq!(stats(&file).stops, 0);
    file.close();
    node.surprise_remove();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_cancelled_removal_leaves_the_device_working() {
    let kernel = Kernel::new();
    let (driver, node) = started(&kernel);
    node.query_remove_then_cancel().expect("not vetoed");
    let file = kernel
        .open(&interface(&kernel))
        .expect("creates work again after CANCEL_REMOVE");
    assert_eq!(file.write(b"ok").status, 0);
    file.close();
    assert_eq!(node.query_remove_and_remove(), Ok(0));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn stress_io_racing_surprise_removal_over_four_threads() {
    // Writes, reads and waits over four threads with random cancellation; halfway through, the
    // device is surprise-removed. Every request completes exactly once (the runner waits for
    // each; a second completion is a bug check), with success, cancelled, or the removal's
    // status; REMOVE follows the close; nothing leaks, nothing is reported.
    use std::sync::atomic::{AtomicU64, Ordering};
    use wdm_sim::stress::Stress;
    const REQUESTS: u64 = 40_000;
    let kernel = Kernel::new();
    let (driver, node) = started(&kernel);
    let file = kernel.open(&interface(&kernel)).unwrap();
    let issued = AtomicU64::new(0);
    let halfway = std::sync::Barrier::new(2);
    let report = std::thread::scope(|s| {
        let remover = kernel.spawn(s, || {
            halfway.wait();
            node.surprise_remove()
        });
        let report = Stress::new(REQUESTS).threads(4).window(16).cancel_percent(20).run(
            &kernel,
            |rng, _| {
                if issued.fetch_add(1, Ordering::SeqCst) == REQUESTS / 2 {
                    halfway.wait();
                }
                match rng.below(3) {
                    0 => file.start_write(&rng.next_u64().to_le_bytes()),
                    1 => file.start_read(8),
                    _ => file.start_ioctl(IOCTL_TOASTER_WAIT, &[], 0),
                }
            },
            |result, cancelled| match result.status {
                0 => Ok(()),
                s if s == Status::CANCELLED.raw() && cancelled => Ok(()),
                s if s == Status::NO_SUCH_DEVICE.raw() => Ok(()),
                s => Err(format!("status {s:#x} (cancel attempted: {cancelled})")),
            },
        );
        assert_eq!(remover.join().unwrap(), 0);
        report
    });
    println!("toaster stress: {report}");
    assert!(report.failures.is_empty(), "{report}");
    assert!(report.operations() >= REQUESTS);
    assert!(
        report.count(0) > 0 && report.count(Status::NO_SUCH_DEVICE.raw()) > 0,
        "{report}"
    );
    file.close();
    assert_eq!(node.state(), NodeState::Deleted);
    driver.unload();
    kernel.assert_clean();
}
