//! The minimal driver on the simulator.

// Under Miri only: DbgPrintEx in Rust, since Miri cannot call the simulator's C one.

use wdm_sim::{Kernel, Rule};
use wdm_sys::{IRP_MJ_READ, STATUS_INVALID_DEVICE_REQUEST, STATUS_OBJECT_NAME_NOT_FOUND};

fn load(kernel: &Kernel) -> wdm_sim::Driver<'_> {
    kernel
        .load("minimal", wdm::entry::<minimal::Minimal>)
        .expect("DriverEntry succeeds")
}

#[test]
fn load_open_close_unload_leaves_nothing() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    assert_eq!(driver.device_names(), ["\\Device\\Minimal"]);
    kernel
        .open(r"\\.\Minimal")
        .expect("opens through the symbolic link")
        .close();
    kernel.open(r"\Device\Minimal").expect("opens by device name").close();
    driver.unload();
    assert!(kernel.open(r"\\.\Minimal").is_err(), "the link is gone after unload");
    kernel.assert_clean();
    let text: String = kernel.debug_output().into_iter().map(|l| l.text).collect();
    assert_eq!(text, "minimal: loaded\nminimal: unloading\n");
}

#[test]
fn several_handles_at_once() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let files: Vec<_> = (0..4).map(|_| kernel.open(r"\\.\Minimal").expect("opens")).collect();
    for f in files {
        f.close();
    }
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn unhandled_requests_fail_with_invalid_device_request() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(r"\\.\Minimal").expect("opens");
    let done = file.send(IRP_MJ_READ);
    assert_eq!(done.status, STATUS_INVALID_DEVICE_REQUEST);
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_second_instance_cannot_take_the_same_names() {
    let kernel = Kernel::new();
    let first = load(&kernel);
    // The second load fails in IoCreateDevice (name collision) and leaves nothing behind.
    let second = kernel.load("minimal2", wdm::entry::<minimal::Minimal>);
    assert!(second.is_err());
    assert!(!kernel.was_reported(Rule::DeviceLeak));
    first.unload();
    kernel.assert_clean();
}

#[test]
fn unknown_names_do_not_open() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    assert_eq!(kernel.open(r"\\.\Maximal").err(), Some(STATUS_OBJECT_NAME_NOT_FOUND));
    driver.unload();
    kernel.assert_clean();
}

/// The scenario `cargo xtask samples` shows: open, an unhandled request, close.
#[test]
fn scenario_timeline() {
    let kernel = Kernel::new();
    kernel.trace();
    let driver = load(&kernel);
    let file = kernel.open(r"\\.\Minimal").unwrap();
    assert_eq!(file.send(IRP_MJ_READ).status, STATUS_INVALID_DEVICE_REQUEST);
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
    let points = wdm_sim::Kernel::low_resources_sweep("minimal", wdm::entry::<minimal::Minimal>).unwrap();
    println!("minimal: {points} allocation points in DriverEntry, each failed once");
    // the device and its link: a stateless driver allocates nothing else
    assert_eq!(points, 2);
}
