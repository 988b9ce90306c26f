//! The reference for the zero-cost measurement: a buffered IOCTL that reverses its input,
//! written the C way with raw `wdm-sys` calls. `zero-cost-wdm` is the same driver on `wdm`;
//! `cargo xtask zero-cost` compares their instructions per IOCTL and their `.text` sizes.

#![no_std]
// The baseline is written the way a C driver is: raw pointers, several per block.
#![allow(clippy::missing_safety_doc, clippy::multiple_unsafe_ops_per_block)]

use wdm::sys::ntddk::*;
use wdm::sys::*;

const NAME: &[u16] = &[
    0x5C, 0x44, 0x65, 0x76, 0x69, 0x63, 0x65, 0x5C, 0x5A, 0x63, 0x52, 0x61, 0x77, 0,
]; // \Device\ZcRaw

/// The one control code: METHOD_BUFFERED, function 0x800.
pub const IOCTL_REVERSE: u32 = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS);

fn name() -> UNICODE_STRING {
    UNICODE_STRING {
        Length: ((NAME.len() - 1) * 2) as u16,
        MaximumLength: (NAME.len() * 2) as u16,
        Buffer: NAME.as_ptr().cast_mut(),
    }
}

wdm::sys::callback! {
    unsafe fn succeed(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
        // SAFETY: the I/O manager hands us the IRP.
        let i = unsafe { &mut *irp };
        i.IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
        i.IoStatus.Information = 0;
        // SAFETY: completing the IRP we own, once.
        unsafe { IoCompleteRequest(irp, IO_NO_INCREMENT as _) };
        STATUS_SUCCESS
    }
}

wdm::sys::callback! {
    unsafe fn reverse(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
        // SAFETY: the I/O manager hands us the IRP with its current location.
        let stack = unsafe { &*IoGetCurrentIrpStackLocation(irp) };
        // SAFETY: the DeviceIoControl member for IRP_MJ_DEVICE_CONTROL.
        let p = unsafe { stack.Parameters.DeviceIoControl };
        // SAFETY: we own the IRP.
        let i = unsafe { &mut *irp };
        let (input, output) = (p.InputBufferLength as usize, p.OutputBufferLength as usize);
        let status = if p.IoControlCode != IOCTL_REVERSE {
            i.IoStatus.Information = 0;
            STATUS_INVALID_DEVICE_REQUEST
        } else if output < input {
            i.IoStatus.Information = 0;
            STATUS_BUFFER_TOO_SMALL
        } else {
            // SAFETY: METHOD_BUFFERED: the system buffer holds max(input, output) bytes.
            let buffer = unsafe { i.AssociatedIrp.SystemBuffer }.cast::<u8>();
            if input > 0 {
                // SAFETY: as above.
                unsafe { core::slice::from_raw_parts_mut(buffer, input) }.reverse();
            }
            i.IoStatus.Information = input as _;
            STATUS_SUCCESS
        };
        i.IoStatus.__bindgen_anon_1.Status = status;
        // SAFETY: completing the IRP we own, once.
        unsafe { IoCompleteRequest(irp, IO_NO_INCREMENT as _) };
        status
    }
}

wdm::sys::callback! {
    unsafe fn unload(driver: PDRIVER_OBJECT) {
        // SAFETY: our one device.
        unsafe { IoDeleteDevice((*driver).DeviceObject) };
    }
}

wdm::sys::callback! {
    /// DriverEntry.
    pub unsafe fn entry(driver: PDRIVER_OBJECT, _registry: PUNICODE_STRING) -> NTSTATUS {
        let mut device = core::ptr::null_mut();
        let mut n = name();
        // SAFETY: a fresh driver object.
        let status = unsafe { IoCreateDevice(driver, 0, &mut n, FILE_DEVICE_UNKNOWN, 0, 0, &mut device) };
        if !NT_SUCCESS(status) {
            return status;
        }
        // SAFETY: the device we created; our own driver object during DriverEntry.
        let (d, drv) = unsafe { (&mut *device, &mut *driver) };
        d.Flags |= DO_BUFFERED_IO;
        d.Flags &= !DO_DEVICE_INITIALIZING;
        drv.MajorFunction[IRP_MJ_CREATE as usize] = Some(succeed);
        drv.MajorFunction[IRP_MJ_CLOSE as usize] = Some(succeed);
        drv.MajorFunction[IRP_MJ_DEVICE_CONTROL as usize] = Some(reverse);
        drv.DriverUnload = Some(unload);
        STATUS_SUCCESS
    }
}
