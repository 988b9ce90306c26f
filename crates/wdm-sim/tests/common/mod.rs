//! Helpers for fixture drivers written with raw `wdm-sys` calls, the way a C driver is.
//! Fixtures commit mistakes on purpose; these helpers only do the boilerplate right.

#![allow(dead_code, clippy::multiple_unsafe_ops_per_block, clippy::missing_safety_doc)]

use wdm_sys::ntddk::*;
use wdm_sys::*;

/// A NUL-terminated UTF-16 copy of `s`, leaked (fixture names live for the whole test run).
pub fn wide(s: &str) -> &'static [u16] {
    let v: Vec<u16> = s.encode_utf16().chain(std::iter::once(0)).collect();
    Box::leak(v.into_boxed_slice())
}

/// A UNICODE_STRING for `s`.
pub fn unicode(s: &str) -> UNICODE_STRING {
    let w = wide(s);
    UNICODE_STRING {
        Length: ((w.len() - 1) * 2) as u16,
        MaximumLength: (w.len() * 2) as u16,
        Buffer: w.as_ptr().cast_mut(),
    }
}

/// Creates `\Device\<name>` with a `\DosDevices\<name>` link and `ext` bytes of extension.
///
/// # Safety
/// Called from DriverEntry with the driver's object.
pub unsafe fn create_device(driver: PDRIVER_OBJECT, name: &str, ext: u32, flags: u32) -> PDEVICE_OBJECT {
    let mut device_name = unicode(&format!("\\Device\\{name}"));
    let mut link = unicode(&format!("\\DosDevices\\{name}"));
    let mut device: PDEVICE_OBJECT = std::ptr::null_mut();
    // SAFETY: valid driver object and names.
    unsafe {
        let status = IoCreateDevice(driver, ext, &mut device_name, FILE_DEVICE_UNKNOWN, 0, 0, &mut device);
        assert_eq!(status, STATUS_SUCCESS);
        assert_eq!(IoCreateSymbolicLink(&mut link, &mut device_name), STATUS_SUCCESS);
        (*device).Flags |= flags;
    }
    device
}

/// Deletes every device of `driver` and the `\DosDevices\<name>` link of each named one.
///
/// # Safety
/// Called from DriverUnload.
pub unsafe fn delete_devices(driver: PDRIVER_OBJECT, names: &[&str]) {
    for name in names {
        let mut link = unicode(&format!("\\DosDevices\\{name}"));
        // SAFETY: a link the fixture created.
        unsafe { assert_eq!(IoDeleteSymbolicLink(&mut link), STATUS_SUCCESS) };
    }
    // SAFETY: the driver's own device list.
    unsafe {
        let mut d = (*driver).DeviceObject;
        while !d.is_null() {
            let next = (*d).NextDevice;
            IoDeleteDevice(d);
            d = next;
        }
    }
}

/// Sets IoStatus and completes.
///
/// # Safety
/// The caller owns `irp`.
pub unsafe fn complete(irp: PIRP, status: NTSTATUS, information: usize) {
    // SAFETY: caller's contract.
    unsafe {
        (*irp).IoStatus.__bindgen_anon_1.Status = status;
        (*irp).IoStatus.Information = information as u64;
        IoCompleteRequest(irp, IO_NO_INCREMENT as i8);
    }
}

/// Completes `irp` with `status` and `information` and returns `status` (what a dispatch
/// routine that completes returns).
///
/// # Safety
/// The caller owns `irp`.
pub unsafe fn answer(irp: PIRP, status: NTSTATUS, information: u64) -> NTSTATUS {
    // SAFETY: caller's contract.
    unsafe { complete(irp, status, information as usize) };
    status
}

unsafe extern "C-unwind" fn signal(_d: PDEVICE_OBJECT, _irp: PIRP, context: PVOID) -> NTSTATUS {
    // SAFETY: the waiting dispatch routine's event, live until it wakes.
    unsafe { KeSetEvent(context.cast(), 0, 0) };
    STATUS_MORE_PROCESSING_REQUIRED
}

/// Forward-and-wait (pnp-power.md §3.1, handled on the way up): sends `irp` down with a
/// completion routine that keeps it, waits if it pends, and returns the lower drivers' status.
///
/// # Safety
/// The caller owns `irp`, which has a location for `lower`, at PASSIVE_LEVEL.
pub unsafe fn forward_and_wait(lower: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: caller's contract; the event outlives the wait.
    unsafe {
        let mut event = KEVENT::default();
        KeInitializeEvent(&mut event, _EVENT_TYPE::NotificationEvent, 0);
        IoCopyCurrentIrpStackLocationToNext(irp);
        IoSetCompletionRoutine(irp, Some(signal), (&raw mut event).cast(), true, true, true);
        if IoCallDriver(lower, irp) == STATUS_PENDING {
            let _ = KeWaitForSingleObject((&raw mut event).cast(), 0, 0, 0, std::ptr::null_mut());
        }
        (*irp).IoStatus.__bindgen_anon_1.Status
    }
}

/// The current stack location's major function.
///
/// # Safety
/// A live IRP.
pub unsafe fn major(irp: PIRP) -> u32 {
    // SAFETY: caller's contract.
    unsafe { u32::from((*IoGetCurrentIrpStackLocation(irp)).MajorFunction) }
}

/// A dispatch routine that completes create, close and cleanup with success.
pub unsafe extern "C-unwind" fn succeed(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us the IRP.
    unsafe { complete(irp, STATUS_SUCCESS, 0) };
    STATUS_SUCCESS
}

/// Installs `succeed` for create, close and cleanup.
///
/// # Safety
/// Called from DriverEntry.
pub unsafe fn open_close(driver: PDRIVER_OBJECT) {
    // SAFETY: the driver's own object.
    unsafe {
        (*driver).MajorFunction[IRP_MJ_CREATE as usize] = Some(succeed);
        (*driver).MajorFunction[IRP_MJ_CLOSE as usize] = Some(succeed);
        (*driver).MajorFunction[IRP_MJ_CLEANUP as usize] = Some(succeed);
    }
}
