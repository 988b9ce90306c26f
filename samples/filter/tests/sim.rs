//! The filter over the toaster on the simulator: requests pass through and are counted, and
//! the stack survives every PnP sequence of the device below (start, rebalance with held I/O,
//! cancelled stop and removal, orderly removal and its veto, surprise removal with a handle
//! open), plus a stress run with I/O racing surprise removal through the filter.

use filter::{COUNTED, Filter, IOCTL_FILTER_GET_COUNTS, counts_from_bytes};
use toaster::{GUID_DEVINTERFACE_TOASTER, HARDWARE_ID, IOCTL_TOASTER_GET_STATS, IOCTL_TOASTER_WAIT, Stats, Toaster};
use wdm::Status;
use wdm_sim::{DeviceNode, Kernel, NodeState};
use wdm_sys::{IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL, IRP_MJ_READ, IRP_MJ_WRITE};

struct Stack<'k> {
    toaster: wdm_sim::Driver<'k>,
    filter: wdm_sim::Driver<'k>,
    node: DeviceNode<'k>,
}

/// The toaster's stack with the filter on top, started.
fn stack(kernel: &Kernel) -> Stack<'_> {
    let toaster = kernel.load("toaster", wdm::pnp::entry::<Toaster>).unwrap();
    let filter = kernel.load("filter", wdm::pnp::entry::<Filter>).unwrap();
    let node = kernel.add_root_device(HARDWARE_ID);
    // Bottom-up: the function driver, then the upper filter.
    assert_eq!(node.add_driver(&toaster), 0);
    assert_eq!(node.add_driver(&filter), 0);
    assert_eq!(node.stack().len(), 2);
    assert_eq!(node.start(), 0);
    Stack { toaster, filter, node }
}

impl Stack<'_> {
    fn unload(self) {
        self.filter.unload();
        self.toaster.unload();
    }
}

fn open(kernel: &Kernel) -> wdm_sim::File<'_> {
    let found = kernel.device_interfaces(&GUID_DEVINTERFACE_TOASTER.to_raw());
    assert_eq!(found.len(), 1, "{found:?}");
    kernel.open(&found[0]).expect("open through the filter")
}

fn counts(file: &wdm_sim::File<'_>) -> [u32; COUNTED] {
    let r = file.ioctl(IOCTL_FILTER_GET_COUNTS, &[], COUNTED * 4);
    assert_eq!(r.status, 0);
    counts_from_bytes(r.data()).unwrap()
}

#[test]
fn requests_pass_through_and_are_counted() {
    let kernel = Kernel::new();
    let s = stack(&kernel);
    // The filter is on top (the flags it copies are checked in the framework's tests/pnp.rs).
    assert_eq!(s.node.stack().len(), 2);
    let file = open(&kernel);
    assert_eq!(file.write(b"through").status, 0);
    let r = file.read(16);
    assert_eq!((r.status, r.data()), (0, &b"through"[..]));
    let stats = file.ioctl(IOCTL_TOASTER_GET_STATS, &[], Stats::SIZE);
    assert_eq!(stats.status, 0, "an IOCTL the filter does not know reaches the toaster");
    let c = counts(&file);
    assert_eq!(
        (
            c[IRP_MJ_CREATE as usize],
            c[IRP_MJ_WRITE as usize],
            c[IRP_MJ_READ as usize],
            c[IRP_MJ_DEVICE_CONTROL as usize]
        ),
        (1, 1, 1, 1)
    );
    file.close();
    assert_eq!(s.node.query_remove_and_remove(), Ok(0));
    assert!(s.node.stack().is_empty(), "both devices detached and deleted at REMOVE");
    s.unload();
    kernel.assert_clean();
}

#[test]
fn survives_a_rebalance_with_io_held_below() {
    let kernel = Kernel::new();
    let s = stack(&kernel);
    let file = open(&kernel);
    s.node.query_stop_and_stop().unwrap();
    let write = file.start_write(b"later");
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(!write.is_done(), "the toaster holds it below the filter");
    assert_eq!(s.node.restart(), 0);
    assert_eq!(write.wait().status, 0);
    assert_eq!(counts(&file)[IRP_MJ_WRITE as usize], 1);
    file.close();
    s.node.surprise_remove();
    s.unload();
    kernel.assert_clean();
}

#[test]
fn survives_cancelled_stops_and_removals() {
    let kernel = Kernel::new();
    let s = stack(&kernel);
    s.node.query_stop_then_cancel().expect("not vetoed");
    s.node.query_remove_then_cancel().expect("not vetoed");
    let file = open(&kernel);
    assert_eq!(file.write(b"x").status, 0);
    // A veto by the open handle: CANCEL_REMOVE through both drivers.
    assert_eq!(s.node.query_remove_and_remove(), Err(wdm_sys::STATUS_DEVICE_BUSY));
    assert_eq!(file.read(1).status, 0);
    file.close();
    assert_eq!(s.node.query_remove_and_remove(), Ok(0));
    s.unload();
    kernel.assert_clean();
}

#[test]
fn survives_surprise_removal_with_a_handle_and_a_wait_open() {
    let kernel = Kernel::new();
    let s = stack(&kernel);
    let file = open(&kernel);
    let wait = file.start_ioctl(IOCTL_TOASTER_WAIT, &[], 0);
    assert_eq!(s.node.surprise_remove(), 0);
    assert_eq!(wait.wait().status, Status::NO_SUCH_DEVICE.raw());
    assert_eq!(file.write(b"gone").status, Status::NO_SUCH_DEVICE.raw());
    assert_eq!(s.node.state(), NodeState::SurpriseRemoved);
    file.close();
    assert_eq!(s.node.state(), NodeState::Deleted);
    assert!(s.node.stack().is_empty());
    s.unload();
    kernel.assert_clean();
}

#[test]
fn io_racing_surprise_removal_through_the_filter() {
    let kernel = Kernel::new();
    let s = stack(&kernel);
    let file = open(&kernel);
    let ok = [
        0,
        Status::NO_SUCH_DEVICE.raw(),
        Status::DELETE_PENDING.raw(),
        Status::CANCELLED.raw(),
    ];
    let total: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..3u32)
            .map(|t| {
                let file = &file;
                kernel.spawn(scope, move || {
                    for i in 0..300u32 {
                        let p = match (i + t) % 3 {
                            0 => file.start_write(&i.to_le_bytes()),
                            1 => file.start_read(4),
                            _ => file.start_ioctl(IOCTL_TOASTER_WAIT, &[], 0),
                        };
                        if i % 7 == 0 {
                            p.cancel();
                        }
                        let r = p.wait();
                        assert!(ok.contains(&r.status), "status {:#x}", r.status);
                    }
                    300u64
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(5));
        s.node.surprise_remove();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(total, 900);
    file.close();
    assert_eq!(s.node.state(), NodeState::Deleted);
    s.unload();
    kernel.assert_clean();
}

#[test]
fn stress_io_through_the_filter_racing_surprise_removal() {
    // Through the filter: writes, reads and waits over four threads with random cancellation; halfway through, the
    // device is surprise-removed. Every request completes exactly once (the runner waits for
    // each; a second completion is a bug check), with success, cancelled, or the removal's
    // status; REMOVE follows the close; nothing leaks, nothing is reported.
    use std::sync::atomic::{AtomicU64, Ordering};
    use wdm_sim::stress::Stress;
    const REQUESTS: u64 = 40_000;
    let kernel = Kernel::new();
    let s = stack(&kernel);
    let node = &s.node;
    let file = open(&kernel);
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
    println!("filter stress: {report}");
    assert!(report.failures.is_empty(), "{report}");
    assert!(report.operations() >= REQUESTS);
    assert!(
        report.count(0) > 0 && report.count(Status::NO_SUCH_DEVICE.raw()) > 0,
        "{report}"
    );
    file.close();
    assert_eq!(node.state(), NodeState::Deleted);
    s.unload();
    kernel.assert_clean();
}
