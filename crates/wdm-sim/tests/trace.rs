//! The IRP lifecycle log: timeline and Chrome trace JSON.

#![allow(clippy::multiple_unsafe_ops_per_block, clippy::missing_safety_doc)]

mod common;

use common::*;
use wdm_sim::{Event, Kernel};
use wdm_sys::ntddk::*;
use wdm_sys::*;

unsafe extern "C-unwind" fn cancel(_device: PDEVICE_OBJECT, irp: PIRP) {
    // SAFETY: called with the cancel lock held.
    unsafe {
        IoReleaseCancelSpinLock((*irp).CancelIrql);
        complete(irp, STATUS_CANCELLED, 0);
    }
}

unsafe extern "C-unwind" fn pend(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us the IRP.
    unsafe {
        IoMarkIrpPending(irp);
        IoSetCancelRoutine(irp, Some(cancel));
    }
    STATUS_PENDING
}

unsafe extern "C-unwind" fn unload(driver: PDRIVER_OBJECT) {
    // SAFETY: the driver's own objects.
    unsafe { delete_devices(driver, &["Trace"]) };
}

unsafe extern "C-unwind" fn entry(driver: PDRIVER_OBJECT, _registry: PUNICODE_STRING) -> NTSTATUS {
    // SAFETY: a fresh driver object.
    unsafe {
        create_device(driver, "Trace", 0, DO_BUFFERED_IO);
        open_close(driver);
        (*driver).MajorFunction[IRP_MJ_READ as usize] = Some(pend);
        (*driver).DriverUnload = Some(unload);
    }
    STATUS_SUCCESS
}

#[test]
fn a_cancelled_read_tells_its_story() {
    let kernel = Kernel::new();
    kernel.trace();
    let driver = kernel.load("trace", entry).unwrap();
    let file = kernel.open(r"\\.\Trace").unwrap();
    let read = file.start_read(4);
    let irp = read.irp() as usize;
    read.cancel();
    assert_eq!(read.wait().status, STATUS_CANCELLED);
    file.close();
    driver.unload();
    kernel.assert_clean();

    let story: Vec<Event> = kernel
        .trace_events()
        .into_iter()
        .filter(|e| e.irp == irp)
        .map(|e| e.event)
        .collect();
    assert_eq!(
        story,
        [
            Event::Allocated,
            Event::Dispatched(IRP_MJ_READ as u8),
            Event::Pended,
            Event::CancelRequested,
            Event::CancelRoutine,
            Event::Completed(STATUS_CANCELLED),
            Event::Freed,
        ]
    );
    let timeline = kernel.timeline();
    assert!(timeline.contains("dispatched (READ)"), "{timeline}");
    assert!(timeline.contains("cancel routine run"));
    assert!(timeline.contains("completed, status 0xc0000120"));
    assert!(timeline.lines().all(|l| l.contains("CPU") && l.contains("IRQL")));
}

#[test]
fn chrome_trace_is_valid_json_with_one_span_per_irp() {
    let kernel = Kernel::new();
    kernel.trace();
    let driver = kernel.load("trace", entry).unwrap();
    let file = kernel.open(r"\\.\Trace").unwrap();
    let read = file.start_read(4);
    read.cancel();
    read.wait();
    file.close();
    driver.unload();
    let json: serde_json::Value = serde_json::from_str(&kernel.chrome_trace()).expect("valid JSON");
    let events = json["traceEvents"].as_array().expect("traceEvents");
    let begins = events.iter().filter(|e| e["ph"] == "b").count();
    let ends = events.iter().filter(|e| e["ph"] == "e").count();
    // create, read, cleanup, close: four IRPs, each a span from allocation to free.
    assert_eq!((begins, ends), (4, 4));
    assert!(events.iter().all(|e| e["ts"].is_number() && e["pid"] == 1));
}

#[test]
fn tracing_is_off_unless_asked_for() {
    let kernel = Kernel::new();
    let driver = kernel.load("trace", entry).unwrap();
    kernel.open(r"\\.\Trace").unwrap().close();
    driver.unload();
    assert!(kernel.trace_events().is_empty());
}
