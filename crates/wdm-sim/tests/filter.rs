//! A filter driver above a function driver: IoCallDriver down the stack, completion routines
//! on the way up, and the pending mark that a completion routine must propagate (0x228).

#![allow(clippy::multiple_unsafe_ops_per_block, clippy::missing_safety_doc)]

mod common;

use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering::SeqCst};

use common::*;
use wdm_sim::{Kernel, Rule};
use wdm_sys::ntddk::*;
use wdm_sys::*;

// ---- the function driver: pends reads, completes the held one on an IOCTL ----

static HELD: AtomicPtr<IRP> = AtomicPtr::new(std::ptr::null_mut());

unsafe extern "C-unwind" fn function_read(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the IRP is ours until completed.
    unsafe { IoMarkIrpPending(irp) };
    HELD.store(irp, SeqCst);
    STATUS_PENDING
}

unsafe extern "C-unwind" fn function_ioctl(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    let held = HELD.swap(std::ptr::null_mut(), SeqCst);
    // SAFETY: the held read is ours; so is this IOCTL.
    unsafe {
        if !held.is_null() {
            complete(held, STATUS_SUCCESS, 7);
        }
        complete(irp, STATUS_SUCCESS, 0);
    }
    STATUS_SUCCESS
}

unsafe extern "C-unwind" fn function_unload(driver: PDRIVER_OBJECT) {
    // SAFETY: the driver's own objects.
    unsafe { delete_devices(driver, &["Function"]) };
}

unsafe extern "C-unwind" fn function_entry(driver: PDRIVER_OBJECT, _r: PUNICODE_STRING) -> NTSTATUS {
    // SAFETY: a fresh driver object.
    unsafe {
        create_device(driver, "Function", 0, DO_BUFFERED_IO);
        open_close(driver);
        (*driver).MajorFunction[IRP_MJ_READ as usize] = Some(function_read);
        (*driver).MajorFunction[IRP_MJ_DEVICE_CONTROL as usize] = Some(function_ioctl);
        (*driver).DriverUnload = Some(function_unload);
    }
    STATUS_SUCCESS
}

// ---- the filter: passes everything down; reads with a completion routine ----

#[repr(C)]
struct FilterExt {
    lower: PDEVICE_OBJECT,
    propagate: bool,
    completions: AtomicU32,
}

unsafe extern "C-unwind" fn on_read_done(device: PDEVICE_OBJECT, irp: PIRP, _ctx: PVOID) -> NTSTATUS {
    // SAFETY: called by IoCompleteRequest for the filter's location.
    unsafe {
        let e = &*(*device).DeviceExtension.cast::<FilterExt>();
        e.completions.fetch_add(1, SeqCst);
        if e.propagate && (*irp).PendingReturned != 0 {
            IoMarkIrpPending(irp);
        }
    }
    STATUS_SUCCESS
}

unsafe extern "C-unwind" fn filter_pass(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: forwarding the IRP we were given to the device below.
    unsafe {
        let e = &*(*device).DeviceExtension.cast::<FilterExt>();
        if major(irp) == IRP_MJ_READ {
            IoCopyCurrentIrpStackLocationToNext(irp);
            IoSetCompletionRoutine(irp, Some(on_read_done), std::ptr::null_mut(), true, true, true);
        } else {
            IoSkipCurrentIrpStackLocation(irp);
        }
        IoCallDriver(e.lower, irp)
    }
}

unsafe extern "C-unwind" fn filter_unload(driver: PDRIVER_OBJECT) {
    // SAFETY: the filter's own device, attached to the function device.
    unsafe {
        let device = (*driver).DeviceObject;
        IoDetachDevice((*(*device).DeviceExtension.cast::<FilterExt>()).lower);
        IoDeleteDevice(device);
    }
}

unsafe extern "C-unwind" fn filter_entry(driver: PDRIVER_OBJECT, registry: PUNICODE_STRING) -> NTSTATUS {
    // SAFETY: a fresh driver object; the function device exists.
    unsafe {
        let r = &*registry;
        let path = String::from_utf16_lossy(std::slice::from_raw_parts(r.Buffer, usize::from(r.Length) / 2));
        let mut device = std::ptr::null_mut();
        let status = IoCreateDevice(
            driver,
            size_of::<FilterExt>() as u32,
            std::ptr::null_mut(),
            FILE_DEVICE_UNKNOWN,
            0,
            0,
            &mut device,
        );
        assert_eq!(status, STATUS_SUCCESS);
        // The device to filter (a PnP driver gets it in AddDevice; this legacy one is told).
        let target = FUNCTION_DEVICE.load(SeqCst);
        let lower = IoAttachDeviceToDeviceStack(device, target);
        assert!(!lower.is_null());
        (*device).DeviceExtension.cast::<FilterExt>().write(FilterExt {
            lower,
            propagate: path.contains("propagate"),
            completions: AtomicU32::new(0),
        });
        (*device).Flags |= (*lower).Flags & (DO_BUFFERED_IO | DO_DIRECT_IO);
        (*device).Flags &= !DO_DEVICE_INITIALIZING;
        for m in 0..=IRP_MJ_MAXIMUM_FUNCTION {
            (*driver).MajorFunction[m as usize] = Some(filter_pass);
        }
        (*driver).DriverUnload = Some(filter_unload);
    }
    STATUS_SUCCESS
}

static FUNCTION_DEVICE: AtomicPtr<DEVICE_OBJECT> = AtomicPtr::new(std::ptr::null_mut());

/// The fixtures keep state in statics, so the tests here take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn stack<'k>(kernel: &'k Kernel, filter: &str) -> (wdm_sim::Driver<'k>, wdm_sim::Driver<'k>) {
    let function = kernel.load("function", function_entry).unwrap();
    // SAFETY: the function driver's one device.
    FUNCTION_DEVICE.store(unsafe { (*function.object()).DeviceObject }, SeqCst);
    let filter = kernel.load(filter, filter_entry).unwrap();
    (function, filter)
}

#[test]
fn requests_go_through_the_filter_and_completion_comes_back_up() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let kernel = Kernel::new();
    let (function, filter) = stack(&kernel, "filter-propagate");
    // Opening the function device's name reaches the top of the stack: the filter.
    let file = kernel.open(r"\\.\Function").unwrap();
    let read = file.start_read(8);
    assert_eq!(
        read.returned, STATUS_PENDING,
        "the filter returns the lower driver's status"
    );
    file.ioctl(0x222000, &[], 0);
    let r = read.wait();
    assert_eq!((r.status, r.information), (STATUS_SUCCESS, 7));
    file.close();
    filter.unload();
    function.unload();
    kernel.assert_clean();
}

#[test]
fn a_completion_routine_that_drops_the_pending_mark_is_0x228() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let kernel = Kernel::new();
    let (function, filter) = stack(&kernel, "filter-naive");
    let file = kernel.open(r"\\.\Function").unwrap();
    let read = file.start_read(8);
    file.ioctl(0x222000, &[], 0);
    read.wait();
    file.close();
    filter.unload();
    function.unload();
    let rules: Vec<Rule> = kernel.take_reports().into_iter().map(|r| r.rule).collect();
    assert_eq!(rules, [Rule::PendingNotPropagated]);
    assert_eq!(Rule::PendingNotPropagated.stop_code().subcode, Some(0x228));
}
