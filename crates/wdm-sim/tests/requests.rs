//! Requests as the I/O manager builds them: buffers laid out per buffering method (buffered,
//! direct, neither; and the four IOCTL methods), output copied back, lengths as the driver
//! reports them.

#![allow(clippy::multiple_unsafe_ops_per_block, clippy::missing_safety_doc)]

mod common;

use common::*;
use wdm_sim::Kernel;
use wdm_sys::ntddk::*;
use wdm_sys::*;

/// Each device keeps the last write.
#[repr(C)]
struct Ext {
    data: [u8; 64],
    len: usize,
}

unsafe fn mdl_address(irp: PIRP) -> *mut u8 {
    // SAFETY: a live IRP with an MDL the I/O manager built (mapped to system space).
    unsafe {
        let mdl = (*irp).MdlAddress;
        assert!(!mdl.is_null());
        assert!(u32::from((*mdl).MdlFlags as u16) & MDL_MAPPED_TO_SYSTEM_VA != 0);
        (*mdl).MappedSystemVa.cast()
    }
}

unsafe extern "C-unwind" fn read_write(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us the IRP; buffers are where the device's method puts them.
    unsafe {
        let e = &mut *(*device).DeviceExtension.cast::<Ext>();
        let stack = &*IoGetCurrentIrpStackLocation(irp);
        let flags = (*device).Flags;
        let write = u32::from(stack.MajorFunction) == IRP_MJ_WRITE;
        let len = if write {
            stack.Parameters.Write.Length
        } else {
            stack.Parameters.Read.Length
        } as usize;
        let buffer: *mut u8 = if len == 0 {
            std::ptr::null_mut()
        } else if flags & DO_BUFFERED_IO != 0 {
            (*irp).AssociatedIrp.SystemBuffer.cast()
        } else if flags & DO_DIRECT_IO != 0 {
            mdl_address(irp)
        } else {
            (*irp).UserBuffer.cast()
        };
        let n = if write {
            let n = len.min(e.data.len());
            std::ptr::copy_nonoverlapping(buffer, e.data.as_mut_ptr(), n);
            e.len = n;
            n
        } else {
            let n = len.min(e.len);
            std::ptr::copy_nonoverlapping(e.data.as_ptr(), buffer, n);
            n
        };
        complete(irp, STATUS_SUCCESS, n);
    }
    STATUS_SUCCESS
}

/// Every method: the output is the input reversed (IN_DIRECT: the "output" buffer is input to
/// the device, so it returns its byte sum in the system buffer).
unsafe extern "C-unwind" fn ioctl(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us the IRP with buffers per the code's method.
    unsafe {
        let p = (*IoGetCurrentIrpStackLocation(irp)).Parameters.DeviceIoControl;
        let (in_len, out_len) = (p.InputBufferLength as usize, p.OutputBufferLength as usize);
        let method = METHOD_FROM_CTL_CODE(p.IoControlCode);
        let (input, output): (*const u8, *mut u8) = match method {
            METHOD_BUFFERED => (
                (*irp).AssociatedIrp.SystemBuffer.cast(),
                (*irp).AssociatedIrp.SystemBuffer.cast(),
            ),
            METHOD_NEITHER => (p.Type3InputBuffer.cast(), (*irp).UserBuffer.cast()),
            _ => ((*irp).AssociatedIrp.SystemBuffer.cast(), mdl_address(irp)),
        };
        if method == METHOD_IN_DIRECT {
            let sum: u8 = std::slice::from_raw_parts(output, out_len)
                .iter()
                .fold(0u8, |a, b| a.wrapping_add(*b));
            *(*irp).AssociatedIrp.SystemBuffer.cast::<u8>() = sum;
            complete(irp, STATUS_SUCCESS, 0);
            return STATUS_SUCCESS;
        }
        if out_len < in_len {
            complete(irp, STATUS_BUFFER_TOO_SMALL, 0);
            return STATUS_BUFFER_TOO_SMALL;
        }
        let data: Vec<u8> = std::slice::from_raw_parts(input, in_len)
            .iter()
            .rev()
            .copied()
            .collect();
        std::ptr::copy_nonoverlapping(data.as_ptr(), output, in_len);
        complete(irp, STATUS_SUCCESS, in_len);
    }
    STATUS_SUCCESS
}

unsafe extern "C-unwind" fn unload(driver: PDRIVER_OBJECT) {
    // SAFETY: the driver's own objects.
    unsafe { delete_devices(driver, &["Buffered", "Direct", "Neither"]) };
}

unsafe extern "C-unwind" fn entry(driver: PDRIVER_OBJECT, _registry: PUNICODE_STRING) -> NTSTATUS {
    // SAFETY: a fresh driver object.
    unsafe {
        create_device(driver, "Buffered", size_of::<Ext>() as u32, DO_BUFFERED_IO);
        create_device(driver, "Direct", size_of::<Ext>() as u32, DO_DIRECT_IO);
        create_device(driver, "Neither", size_of::<Ext>() as u32, 0);
        open_close(driver);
        (*driver).MajorFunction[IRP_MJ_READ as usize] = Some(read_write);
        (*driver).MajorFunction[IRP_MJ_WRITE as usize] = Some(read_write);
        (*driver).MajorFunction[IRP_MJ_DEVICE_CONTROL as usize] = Some(ioctl);
        (*driver).DriverUnload = Some(unload);
    }
    STATUS_SUCCESS
}

#[test]
fn write_then_read_through_each_io_method() {
    let kernel = Kernel::new();
    let driver = kernel.load("requests", entry).unwrap();
    for name in ["Buffered", "Direct", "Neither"] {
        let file = kernel.open(&format!(r"\\.\{name}")).unwrap();
        let w = file.write(b"hello, driver");
        assert_eq!((w.status, w.information), (STATUS_SUCCESS, 13), "{name}");
        let r = file.read(32);
        assert_eq!(r.status, STATUS_SUCCESS, "{name}");
        assert_eq!(r.data(), b"hello, driver", "{name}");
        assert_eq!(r.output.len(), 32, "{name}: the caller's whole buffer comes back");
        let short = file.read(5);
        assert_eq!(short.data(), b"hello", "{name}");
        let empty = file.read(0);
        assert_eq!((empty.status, empty.information), (STATUS_SUCCESS, 0), "{name}");
        file.close();
    }
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn each_ioctl_method_moves_data_the_documented_way() {
    let kernel = Kernel::new();
    let driver = kernel.load("requests", entry).unwrap();
    let file = kernel.open(r"\\.\Buffered").unwrap();
    for method in [METHOD_BUFFERED, METHOD_OUT_DIRECT, METHOD_NEITHER] {
        let code = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x900, method, FILE_ANY_ACCESS);
        let r = file.ioctl(code, b"abc", 8);
        assert_eq!(r.status, STATUS_SUCCESS, "method {method}");
        assert_eq!(r.data(), b"cba", "method {method}");
        let small = file.ioctl(code, b"abcdef", 2);
        assert_eq!(
            (small.status, small.information),
            (STATUS_BUFFER_TOO_SMALL, 0),
            "method {method}"
        );
    }
    // METHOD_IN_DIRECT: the output buffer carries data to the driver through its MDL.
    let code = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x901, METHOD_IN_DIRECT, FILE_ANY_ACCESS);
    let mut input = vec![0u8; 1];
    input[0] = 0xFF;
    let r = file.call(
        IRP_MJ_DEVICE_CONTROL,
        code,
        wdm_sim::Buffers {
            input,
            output: vec![1, 2, 3, 4],
        },
    );
    assert_eq!(r.status, STATUS_SUCCESS);
    assert_eq!(r.output, [1, 2, 3, 4], "IN_DIRECT output is not written back");
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn buffered_output_is_copied_back_only_up_to_information() {
    let kernel = Kernel::new();
    let driver = kernel.load("requests", entry).unwrap();
    let file = kernel.open(r"\\.\Buffered").unwrap();
    let code = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x900, METHOD_BUFFERED, FILE_ANY_ACCESS);
    let r = file.ioctl(code, b"xy", 6);
    assert_eq!(r.output, [b'y', b'x', 0, 0, 0, 0]);
    file.close();
    driver.unload();
    kernel.assert_clean();
}
