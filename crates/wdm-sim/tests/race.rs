//! The StartIoCancel race (spec §4), found by exploring schedules, and its two corrections.
//!
//! With NonCancelable = FALSE the I/O manager hands an IRP to StartIo with its cancel routine
//! still armed and the cancel spin lock released. If another processor cancels it in that
//! window, a naive cancel routine (beep.sys style: "it is the current IRP, so complete it and
//! start the next") and a naive StartIo (clear the routine without looking at what the exchange
//! returned, then complete) both complete it: 0x44. The exploration finds the schedule; the
//! fixes are NonCancelable = TRUE, or StartIo honouring IoSetCancelRoutine's return value.

#![allow(clippy::multiple_unsafe_ops_per_block, clippy::missing_safety_doc)]

mod common;

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

use common::*;
use wdm_sim::explore::{Explorer, Processors, Work};
use wdm_sim::{Kernel, Rule};
use wdm_sys::ntddk::*;
use wdm_sys::*;

#[derive(Default)]
struct Ext {
    /// StartIo checks IoSetCancelRoutine's return value under the cancel lock.
    protocol: bool,
    started: AtomicU32,
}

unsafe fn ext(device: PDEVICE_OBJECT) -> &'static Ext {
    // SAFETY: the fixture's devices have an `Ext` extension.
    unsafe { &*(*device).DeviceExtension.cast::<Ext>() }
}

/// beep.sys-style cancel routine: the current IRP is completed here, and the next started.
unsafe extern "C-unwind" fn cancel_routine(device: PDEVICE_OBJECT, irp: PIRP) {
    // SAFETY: called with the cancel lock held.
    unsafe {
        if irp == (*device).CurrentIrp {
            (*device).CurrentIrp = std::ptr::null_mut();
            IoReleaseCancelSpinLock((*irp).CancelIrql);
            let old = KfRaiseIrql(DISPATCH_LEVEL as u8);
            IoStartNextPacket(device, 1);
            KeLowerIrql(old);
            complete(irp, STATUS_CANCELLED, 0);
            return;
        }
        let entry = &raw mut (*irp).Tail.Overlay.__bindgen_anon_1.DeviceQueueEntry;
        let removed = KeRemoveEntryDeviceQueue(&raw mut (*device).DeviceQueue, entry);
        IoReleaseCancelSpinLock((*irp).CancelIrql);
        if removed != 0 {
            complete(irp, STATUS_CANCELLED, 0);
        }
    }
}

unsafe extern "C-unwind" fn start_io(device: PDEVICE_OBJECT, irp: PIRP) {
    // SAFETY: called at DISPATCH_LEVEL with the device's current IRP.
    unsafe {
        let e = ext(device);
        if e.started.fetch_add(1, SeqCst) == 0 {
            return; // the first packet is held: the "hardware" IOCTL finishes it
        }
        let mut irql = 0;
        IoAcquireCancelSpinLock(&mut irql);
        let routine = IoSetCancelRoutine(irp, None);
        IoReleaseCancelSpinLock(irql);
        if e.protocol && routine.is_none() && (*irp).Cancel != 0 {
            // The cancel routine has it: not ours to complete.
            return;
        }
        complete(irp, STATUS_SUCCESS, 0);
        IoStartNextPacket(device, 1);
    }
}

unsafe extern "C-unwind" fn dispatch_read(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us the IRP at PASSIVE_LEVEL.
    unsafe {
        IoMarkIrpPending(irp);
        IoStartPacket(device, irp, std::ptr::null_mut(), Some(cancel_routine));
    }
    STATUS_PENDING
}

/// The "hardware": finishes the held first packet and starts the next.
unsafe extern "C-unwind" fn dispatch_ioctl(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us the IRP.
    unsafe {
        let old = KfRaiseIrql(DISPATCH_LEVEL as u8);
        let current = (*device).CurrentIrp;
        let mut irql = 0;
        IoAcquireCancelSpinLock(&mut irql);
        let routine = IoSetCancelRoutine(current, None);
        IoReleaseCancelSpinLock(irql);
        if routine.is_some() || (*current).Cancel == 0 {
            complete(current, STATUS_SUCCESS, 0);
        }
        IoStartNextPacket(device, 1);
        KeLowerIrql(old);
        complete(irp, STATUS_SUCCESS, 0);
    }
    STATUS_SUCCESS
}

unsafe extern "C-unwind" fn unload(driver: PDRIVER_OBJECT) {
    // SAFETY: the driver's own objects.
    unsafe { delete_devices(driver, &["Race"]) };
}

unsafe extern "C-unwind" fn entry(driver: PDRIVER_OBJECT, registry: PUNICODE_STRING) -> NTSTATUS {
    // SAFETY: the simulator passes a valid driver object and registry path.
    unsafe {
        let r = &*registry;
        let path = String::from_utf16_lossy(std::slice::from_raw_parts(r.Buffer, usize::from(r.Length) / 2));
        let device = create_device(driver, "Race", size_of::<Ext>() as u32, DO_BUFFERED_IO);
        (*device).DeviceExtension.cast::<Ext>().write(Ext {
            protocol: path.contains("protocol"),
            ..Ext::default()
        });
        IoSetStartIoAttributes(device, 0, BOOLEAN::from(path.contains("noncancelable")));
        open_close(driver);
        (*driver).MajorFunction[IRP_MJ_READ as usize] = Some(dispatch_read);
        (*driver).MajorFunction[IRP_MJ_DEVICE_CONTROL as usize] = Some(dispatch_ioctl);
        (*driver).DriverStartIo = Some(start_io);
        (*driver).DriverUnload = Some(unload);
    }
    STATUS_SUCCESS
}

/// CPU0 finishes the held packet (handing the queued one to StartIo); CPU1 cancels the queued
/// one. Checks: no bug check (double completion), each request completed once with a
/// plausible status, at most one StartIo at a time, nothing leaked.
fn scenario(service: &'static str) -> impl Fn(&Kernel, &mut Processors) -> Result<(), String> {
    move |kernel, cpus| {
        let driver = kernel.load(service, entry).map_err(|s| format!("load: {s:#x}"))?;
        let file = kernel.open(r"\\.\Race").map_err(|s| format!("open: {s:#x}"))?;
        let first = file.start_read(1);
        let second = file.start_read(1);
        let work: Vec<Work<'_>> = vec![
            Box::new(|| {
                file.ioctl(0x222000, &[], 0);
            }),
            Box::new(|| {
                second.cancel();
            }),
        ];
        cpus.run(work);
        let a = first
            .wait_for(std::time::Duration::from_secs(5))
            .ok_or("first never completed")?;
        let b = second
            .wait_for(std::time::Duration::from_secs(5))
            .ok_or("second never completed")?;
        if a.status != STATUS_SUCCESS {
            return Err(format!("first: {:#x}", a.status));
        }
        if b.status != STATUS_SUCCESS && b.status != STATUS_CANCELLED {
            return Err(format!("second: {:#x}", b.status));
        }
        file.close();
        driver.unload();
        let reports = kernel.take_reports();
        if !reports.is_empty() {
            return Err(format!("{reports:?}"));
        }
        Ok(())
    }
}

#[test]
fn noncancelable_false_with_a_naive_cancel_routine_double_completes() {
    let found = Explorer::exhaustive(2).run(scenario("race-naive"));
    let failure = found.failure.expect("the race is found");
    assert!(
        failure.message.contains("DoubleCompletion") || failure.message.contains("DeviceQueueNotBusy"),
        "{}",
        failure.message
    );
    // The failing schedule replays exactly.
    let replay = Explorer::replay(failure.schedule.clone()).run(scenario("race-naive"));
    let again = replay.failure.expect("the replay fails too");
    assert_eq!(again.schedule, failure.schedule);
    let rule = |m: &str| m.split_whitespace().nth(3).unwrap_or_default().to_owned();
    assert_eq!(
        rule(&again.message),
        rule(&failure.message),
        "{} / {}",
        again.message,
        failure.message
    );
}

#[test]
fn noncancelable_true_closes_the_window() {
    let r = Explorer::exhaustive(3).run(scenario("race-naive-noncancelable"));
    assert!(r.failure.is_none(), "{:?}", r.failure);
    assert!(r.schedules > 20, "{} schedules", r.schedules);
}

#[test]
fn start_io_honouring_the_exchange_is_safe_when_cancelable() {
    let r = Explorer::exhaustive(3).run(scenario("race-protocol"));
    assert!(r.failure.is_none(), "{:?}", r.failure);
}

#[test]
fn random_schedules_find_the_race_and_report_their_seed() {
    let r = Explorer::random(7, 500).run(scenario("race-naive"));
    let f = r.failure.expect("found within 500 random schedules");
    assert!(f.seed.is_some());
    let again = Explorer::replay(f.schedule).run(scenario("race-naive"));
    assert!(again.failure.is_some());
}

#[test]
fn real_threads_agree_with_the_exploration_on_the_fixed_driver() {
    // Many real-thread runs of the protocol twin: dispatch, StartIo and IoCancelIrp racing on
    // two OS threads; nothing is ever reported.
    for _ in 0..200 {
        let kernel = Kernel::new();
        let driver = kernel.load("race-protocol", entry).unwrap();
        let file = kernel.open(r"\\.\Race").unwrap();
        let first = file.start_read(1);
        let second = file.start_read(1);
        std::thread::scope(|s| {
            let a = kernel.spawn(s, || {
                file.ioctl(0x222000, &[], 0);
            });
            let b = kernel.spawn(s, || {
                second.cancel();
            });
            a.join().unwrap();
            b.join().unwrap();
        });
        assert_eq!(first.wait().status, STATUS_SUCCESS);
        let st = second.wait().status;
        assert!(st == STATUS_SUCCESS || st == STATUS_CANCELLED);
        file.close();
        driver.unload();
        assert!(!kernel.was_reported(Rule::DoubleCompletion));
        kernel.assert_clean();
    }
}
