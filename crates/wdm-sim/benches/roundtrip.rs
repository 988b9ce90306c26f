//! One IRP round trip on one thread: allocate the IRP, IoCallDriver to the dispatch routine,
//! IoMarkIrpPending + IoStartPacket, StartIo completes it and starts the next packet, the
//! completion routine takes the IRP back, IoFreeIrp. Also the same through the test harness
//! (a ReadFile: the I/O manager builds the IRP with a system buffer and waits for it).
//!
//! `cargo bench -p wdm-sim --bench roundtrip` prints round trips per second for both paths.
//! With `WDM_BENCH_ITERATIONS=N` it runs N round trips of the kernel path only (for callgrind:
//! `valgrind --tool=callgrind target/release/deps/roundtrip-* `).

#![allow(clippy::multiple_unsafe_ops_per_block, clippy::missing_safety_doc, missing_docs)]

use std::time::Instant;

use wdm_sim::Kernel;
use wdm_sys::ntddk::*;
use wdm_sys::*;

fn unicode(s: &'static [u16]) -> UNICODE_STRING {
    UNICODE_STRING {
        Length: ((s.len() - 1) * 2) as u16,
        MaximumLength: (s.len() * 2) as u16,
        Buffer: s.as_ptr().cast_mut(),
    }
}

const NAME: &[u16] = &[
    b'\\' as u16,
    b'D' as u16,
    b'e' as u16,
    b'v' as u16,
    b'i' as u16,
    b'c' as u16,
    b'e' as u16,
    b'\\' as u16,
    b'B' as u16,
    0,
];

unsafe extern "C-unwind" fn start_io(device: PDEVICE_OBJECT, irp: PIRP) {
    // SAFETY: StartIo at DISPATCH_LEVEL with the device's current IRP.
    unsafe {
        (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
        (*irp).IoStatus.Information = 0;
        IoStartNextPacket(device, 0);
        IoCompleteRequest(irp, 0);
    }
}

unsafe extern "C-unwind" fn dispatch(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us the IRP.
    unsafe {
        IoMarkIrpPending(irp);
        IoStartPacket(device, irp, std::ptr::null_mut(), None);
    }
    STATUS_PENDING
}

unsafe extern "C-unwind" fn open(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us the IRP.
    unsafe {
        (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
        IoCompleteRequest(irp, 0);
    }
    STATUS_SUCCESS
}

unsafe extern "C-unwind" fn reclaim(_device: PDEVICE_OBJECT, _irp: PIRP, _ctx: PVOID) -> NTSTATUS {
    STATUS_MORE_PROCESSING_REQUIRED
}

unsafe extern "C-unwind" fn unload(driver: PDRIVER_OBJECT) {
    // SAFETY: the driver's one device.
    unsafe { IoDeleteDevice((*driver).DeviceObject) };
}

unsafe extern "C-unwind" fn entry(driver: PDRIVER_OBJECT, _path: PUNICODE_STRING) -> NTSTATUS {
    // SAFETY: a fresh driver object.
    unsafe {
        let mut name = unicode(NAME);
        let mut device = std::ptr::null_mut();
        let status = IoCreateDevice(driver, 0, &mut name, FILE_DEVICE_UNKNOWN, 0, 0, &mut device);
        (*device).Flags |= DO_BUFFERED_IO;
        (*driver).MajorFunction[IRP_MJ_READ as usize] = Some(dispatch);
        for m in [IRP_MJ_CREATE, IRP_MJ_CLOSE, IRP_MJ_CLEANUP] {
            (*driver).MajorFunction[m as usize] = Some(open);
        }
        (*driver).DriverStartIo = Some(start_io);
        (*driver).DriverUnload = Some(unload);
        status
    }
}

/// `n` kernel-path round trips on the calling thread.
fn kernel_path(kernel: &Kernel, device: PDEVICE_OBJECT, n: u64) {
    kernel.run(|| {
        for _ in 0..n {
            // SAFETY: the IRP is ours from IoAllocateIrp to IoFreeIrp; the device is live.
            unsafe {
                let irp = IoAllocateIrp(1, 0);
                let next = &mut *IoGetNextIrpStackLocation(irp);
                next.MajorFunction = IRP_MJ_READ as u8;
                IoSetCompletionRoutine(irp, Some(reclaim), std::ptr::null_mut(), true, true, true);
                let status = IoCallDriver(device, irp);
                assert_eq!(status, STATUS_PENDING);
                IoFreeIrp(irp);
            }
        }
    });
}

fn main() {
    let kernel = Kernel::new();
    let driver = kernel.load("bench", entry).expect("loads");
    // SAFETY: the driver's one device.
    let device = unsafe { (*driver.object()).DeviceObject };

    if let Some(n) = std::env::var("WDM_BENCH_ITERATIONS").ok().and_then(|v| v.parse().ok()) {
        kernel_path(&kernel, device, n);
        println!("{n} kernel-path round trips");
        driver.unload();
        kernel.assert_clean();
        return;
    }
    kernel_path(&kernel, device, 10_000); // warm up
    let n = 2_000_000;
    let t = Instant::now();
    kernel_path(&kernel, device, n);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "kernel path:  {n} round trips in {secs:.3} s = {:.2} M round trips/s ({:.0} ns each)",
        n as f64 / secs / 1e6,
        secs * 1e9 / n as f64
    );

    let file = kernel.open(r"\Device\B").expect("opens");
    let n = 200_000;
    let t = Instant::now();
    for _ in 0..n {
        let r = file.read(16);
        assert_eq!(r.status, STATUS_SUCCESS);
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "harness path: {n} ReadFile round trips in {secs:.3} s = {:.2} M/s ({:.0} ns each)",
        n as f64 / secs / 1e6,
        secs * 1e9 / n as f64
    );
    file.close();
    driver.unload();
    kernel.assert_clean();
}
