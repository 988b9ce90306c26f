//! StartIo, device queues and the StartIo/cancel hand-off (spec §2-§4), with a C-style fixture
//! driver written in raw `wdm-sys` calls. The fixture's behaviour is chosen by its service name
//! (`kernel.load("startio-<mode>...", ...)`), which DriverEntry reads from its registry path.

#![allow(clippy::multiple_unsafe_ops_per_block, clippy::missing_safety_doc)]

mod common;

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};

use common::*;
use wdm_sim::{Kernel, Rule};
use wdm_sys::ntddk::*;
use wdm_sys::*;

/// The fixture's device extension: its configuration and what StartIo observed.
#[derive(Default)]
struct Ext {
    /// Call IoStartNextPacket before completing, from StartIo (ReactOS beep.sys).
    beep: bool,
    /// Arm a cancel routine through IoStartPacket.
    cancel: bool,
    /// Leave the IRP in progress; an IOCTL finishes it (a stand-in for the hardware).
    hold: bool,
    /// Mark each read cancelled before IoStartPacket (a cancel that came first).
    precancel: bool,
    started: AtomicU32,
    depth: AtomicU32,
    max_depth: AtomicU32,
    saw_cancelled: AtomicU32,
    saw_routine: AtomicU32,
    cancel_routines: AtomicU32,
    last_irql: AtomicUsize,
}

unsafe fn ext(device: PDEVICE_OBJECT) -> &'static Ext {
    // SAFETY: every fixture device has an `Ext` extension.
    unsafe { &*(*device).DeviceExtension.cast::<Ext>() }
}

unsafe extern "C-unwind" fn cancel_routine(device: PDEVICE_OBJECT, irp: PIRP) {
    // SAFETY: called by the I/O manager with the cancel lock held.
    unsafe {
        ext(device).cancel_routines.fetch_add(1, SeqCst);
        if irp == (*device).CurrentIrp {
            // In progress: the StartIo path completes it.
            IoReleaseCancelSpinLock((*irp).CancelIrql);
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

/// Completes the IRP StartIo handed over, and starts the next one, with the cancel protocol.
unsafe fn finish(device: PDEVICE_OBJECT, irp: PIRP) {
    // SAFETY: called at DISPATCH_LEVEL for the device's current IRP.
    unsafe {
        let e = ext(device);
        if e.cancel {
            let mut irql = 0;
            IoAcquireCancelSpinLock(&mut irql);
            let routine = IoSetCancelRoutine(irp, None);
            IoReleaseCancelSpinLock(irql);
            if routine.is_none() && (*irp).Cancel != 0 {
                // The cancel routine owns it... but ours leaves in-progress IRPs to us.
            }
        }
        let status = if (*irp).Cancel != 0 {
            STATUS_CANCELLED
        } else {
            STATUS_SUCCESS
        };
        IoStartNextPacket(device, BOOLEAN::from(e.cancel));
        complete(irp, status, 0);
    }
}

unsafe extern "C-unwind" fn start_io(device: PDEVICE_OBJECT, irp: PIRP) {
    // SAFETY: called by the I/O manager at DISPATCH_LEVEL.
    unsafe {
        let e = ext(device);
        e.started.fetch_add(1, SeqCst);
        e.last_irql.store(usize::from(KeGetCurrentIrql()), SeqCst);
        let d = e.depth.fetch_add(1, SeqCst) + 1;
        e.max_depth.fetch_max(d, SeqCst);
        if (*irp).Cancel != 0 {
            e.saw_cancelled.fetch_add(1, SeqCst);
        }
        if (*irp).CancelRoutine.is_some() {
            e.saw_routine.fetch_add(1, SeqCst);
        }
        if e.beep {
            if e.hold && e.started.load(SeqCst) == 1 {
                // Hold the first packet so that others queue behind it.
            } else {
                // beep.sys: start the next packet first, then complete this one.
                IoStartNextPacket(device, BOOLEAN::from(e.cancel));
                complete(irp, STATUS_SUCCESS, 0);
            }
        } else if !e.hold {
            finish(device, irp);
        }
        e.depth.fetch_sub(1, SeqCst);
    }
}

unsafe extern "C-unwind" fn dispatch_rw(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us the IRP at PASSIVE_LEVEL.
    unsafe {
        let cancel: PDRIVER_CANCEL = if ext(device).cancel { Some(cancel_routine) } else { None };
        if ext(device).precancel {
            (*irp).Cancel = 1;
        }
        IoMarkIrpPending(irp);
        IoStartPacket(device, irp, std::ptr::null_mut(), cancel);
    }
    STATUS_PENDING
}

/// IOCTL: finish the IRP in progress (what a DPC would do when the hardware interrupts).
unsafe extern "C-unwind" fn dispatch_ioctl(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us the IRP.
    unsafe {
        let old = KfRaiseIrql(DISPATCH_LEVEL as u8);
        let current = (*device).CurrentIrp;
        if !current.is_null() {
            finish(device, current);
        }
        KeLowerIrql(old);
        complete(irp, STATUS_SUCCESS, 0);
    }
    STATUS_SUCCESS
}

unsafe extern "C-unwind" fn unload(driver: PDRIVER_OBJECT) {
    // SAFETY: the driver's own objects.
    unsafe { delete_devices(driver, &["StartIo"]) };
}

unsafe extern "C-unwind" fn entry(driver: PDRIVER_OBJECT, registry: PUNICODE_STRING) -> NTSTATUS {
    // SAFETY: the simulator passes a valid driver object and registry path.
    unsafe {
        let r = &*registry;
        let path = String::from_utf16_lossy(std::slice::from_raw_parts(r.Buffer, usize::from(r.Length) / 2));
        let device = create_device(driver, "StartIo", size_of::<Ext>() as u32, DO_BUFFERED_IO);
        let e = (*device).DeviceExtension.cast::<Ext>();
        e.write(Ext {
            beep: path.contains("beep"),
            cancel: path.contains("cancel"),
            hold: path.contains("hold"),
            precancel: path.contains("precancel"),
            ..Ext::default()
        });
        if path.contains("deferred") || path.contains("nocancel") {
            IoSetStartIoAttributes(
                device,
                BOOLEAN::from(path.contains("deferred")),
                BOOLEAN::from(path.contains("nocancel")),
            );
        }
        open_close(driver);
        (*driver).MajorFunction[IRP_MJ_READ as usize] = Some(dispatch_rw);
        (*driver).MajorFunction[IRP_MJ_WRITE as usize] = Some(dispatch_rw);
        (*driver).MajorFunction[IRP_MJ_DEVICE_CONTROL as usize] = Some(dispatch_ioctl);
        (*driver).DriverStartIo = Some(start_io);
        (*driver).DriverUnload = Some(unload);
    }
    STATUS_SUCCESS
}

fn device_ext(driver: &wdm_sim::Driver<'_>) -> &'static Ext {
    // SAFETY: the fixture's one device, alive until unload.
    unsafe { ext((*driver.object()).DeviceObject) }
}

#[test]
fn packets_run_one_at_a_time_at_dispatch_level() {
    let kernel = Kernel::new();
    let driver = kernel.load("startio-cancel", entry).unwrap();
    let file = kernel.open(r"\\.\StartIo").unwrap();
    for n in 0..5 {
        let r = file.read(4);
        assert_eq!(r.status, STATUS_SUCCESS, "read {n}");
    }
    let e = device_ext(&driver);
    assert_eq!(e.started.load(SeqCst), 5);
    assert_eq!(e.last_irql.load(SeqCst), DISPATCH_LEVEL as usize);
    assert_eq!(e.max_depth.load(SeqCst), 1);
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn busy_device_queues_packets_in_order_and_cancel_removes_a_queued_one() {
    let kernel = Kernel::new();
    let driver = kernel.load("startio-cancel-hold", entry).unwrap();
    let file = kernel.open(r"\\.\StartIo").unwrap();
    let first = file.start_read(1);
    let second = file.start_read(2);
    let third = file.start_read(3);
    assert!(!first.is_done() && !second.is_done() && !third.is_done());
    // Cancelling the queued second one: the cancel routine removes and completes it.
    assert!(second.cancel());
    assert_eq!(second.wait().status, STATUS_CANCELLED);
    // Cancelling the in-progress first one: the cancel routine leaves it to StartIo's path.
    assert!(first.cancel());
    assert!(!first.is_done());
    assert_eq!(file.ioctl(0x222000, &[], 0).status, STATUS_SUCCESS);
    assert_eq!(first.wait().status, STATUS_CANCELLED);
    assert!(!third.is_done());
    file.ioctl(0x222000, &[], 0);
    assert_eq!(third.wait().status, STATUS_SUCCESS);
    let e = device_ext(&driver);
    assert_eq!(
        e.started.load(SeqCst),
        2,
        "the cancelled queued IRP never reached StartIo"
    );
    assert_eq!(e.cancel_routines.load(SeqCst), 2);
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_pre_cancelled_irp_reaches_start_io_when_idle_and_its_cancel_routine_when_busy() {
    // Spec §3: idle, IoStartPacket does not look at Irp->Cancel: StartIo gets the cancelled
    // IRP. Busy, the IRP is queued, and IoStartPacket calls its cancel routine at once, with the
    // cancel lock held, and the routine removes and completes it.
    let kernel = Kernel::new();
    let driver = kernel.load("startio-cancel-hold-precancel", entry).unwrap();
    let file = kernel.open(r"\\.\StartIo").unwrap();
    let idle = file.start_read(1);
    let e = device_ext(&driver);
    assert_eq!(e.saw_cancelled.load(SeqCst), 1, "StartIo received the cancelled IRP");
    assert_eq!(e.cancel_routines.load(SeqCst), 0);
    let busy = file.start_read(1);
    assert_eq!(
        e.cancel_routines.load(SeqCst),
        1,
        "the cancel routine ran inside IoStartPacket"
    );
    assert_eq!(busy.wait().status, STATUS_CANCELLED);
    assert_eq!(e.started.load(SeqCst), 1, "the busy one never reached StartIo");
    file.ioctl(0x222000, &[], 0);
    assert_eq!(idle.wait().status, STATUS_CANCELLED);
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn no_cancel_clears_the_routine_at_hand_off_on_both_paths() {
    let kernel = Kernel::new();
    let driver = kernel.load("startio-cancel-nocancel-hold", entry).unwrap();
    let file = kernel.open(r"\\.\StartIo").unwrap();
    // Idle path (IoStartPacket), then queued path (IoStartNextPacket).
    let first = file.start_read(1);
    let second = file.start_read(1);
    // In progress and NonCancelable: IoCancelIrp finds no routine.
    assert!(!first.cancel());
    file.ioctl(0x222000, &[], 0);
    file.ioctl(0x222000, &[], 0);
    // The first was cancelled (flag set) while in progress, and completes as cancelled.
    assert_eq!(first.wait().status, STATUS_CANCELLED);
    assert_eq!(second.wait().status, STATUS_SUCCESS);
    assert_eq!(
        device_ext(&driver).saw_routine.load(SeqCst),
        0,
        "StartIo never sees an armed routine"
    );
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn cancelable_hand_off_leaves_the_routine_armed() {
    let kernel = Kernel::new();
    let driver = kernel.load("startio-cancel-hold", entry).unwrap();
    let file = kernel.open(r"\\.\StartIo").unwrap();
    let first = file.start_read(1);
    let second = file.start_read(1);
    file.ioctl(0x222000, &[], 0);
    file.ioctl(0x222000, &[], 0);
    first.wait();
    second.wait();
    assert_eq!(device_ext(&driver).saw_routine.load(SeqCst), 2);
    file.close();
    driver.unload();
    kernel.assert_clean();
}

fn beep(service: &str) -> (u32, Vec<Rule>) {
    let kernel = Kernel::new();
    let driver = kernel.load(service, entry).unwrap();
    let file = kernel.open(r"\\.\StartIo").unwrap();
    let pending: Vec<_> = (0..4).map(|_| file.start_read(1)).collect();
    // Finishing the held first packet starts the queued ones.
    file.ioctl(0x222000, &[], 0);
    for p in pending {
        assert_eq!(p.wait().status, STATUS_SUCCESS);
    }
    let depth = device_ext(&driver).max_depth.load(SeqCst);
    file.close();
    driver.unload();
    (depth, kernel.take_reports().into_iter().map(|r| r.rule).collect())
}

#[test]
fn beep_style_start_io_recurses_as_deep_as_the_queue_without_deferral() {
    // StartIo calls IoStartNextPacket before completing (ReactOS beep.sys), which calls StartIo
    // for the next queued packet from inside StartIo: three queued packets, depth three.
    let (depth, rules) = beep("startio-beep-hold");
    assert_eq!(depth, 3);
    assert!(rules.contains(&Rule::StartIoRecursion), "{rules:?}");
}

#[test]
fn deferred_start_io_turns_the_recursion_into_a_loop() {
    let (depth, rules) = beep("startio-beep-hold-deferred-nocancel");
    assert_eq!(depth, 1);
    assert!(rules.is_empty(), "{rules:?}");
}

#[test]
fn declaring_cancelable_start_io_without_a_cancel_routine_is_start_io_cancel() {
    // IoSetStartIoAttributes(Deferred=TRUE, NonCancelable=FALSE) and no cancel routine, ever.
    let (_, rules) = beep("startio-beep-hold-deferred");
    assert!(
        rules.iter().all(|r| *r == Rule::StartIoCancel) && !rules.is_empty(),
        "{rules:?}"
    );
    assert_eq!(Rule::StartIoCancel.sdv_rule(), Some("StartIoCancel"));
}

#[test]
fn io_start_packet_restores_the_callers_irql() {
    let kernel = Kernel::new();
    let driver = kernel.load("startio-cancel-hold", entry).unwrap();
    let file = kernel.open(r"\\.\StartIo").unwrap();
    // The dispatch routine runs at PASSIVE_LEVEL, calls IoStartPacket, and must be back at
    // PASSIVE_LEVEL on return: otherwise the simulator reports 0xC9/0x05 for it.
    let a = file.start_read(1);
    let b = file.start_read(1);
    assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
    file.ioctl(0x222000, &[], 0);
    file.ioctl(0x222000, &[], 0);
    a.wait();
    b.wait();
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn start_next_on_an_idle_device_is_device_queue_not_busy() {
    let kernel = Kernel::new();
    let driver = kernel.load("startio-cancel", entry).unwrap();
    // SAFETY: the fixture's device; at DISPATCH_LEVEL as the routine requires.
    let device = unsafe { (*driver.object()).DeviceObject };
    let bug = kernel
        .catch(|| {
            // SAFETY: the fixture's device, at DISPATCH_LEVEL as the routine requires.
            kernel.run(|| unsafe {
                let old = KfRaiseIrql(DISPATCH_LEVEL as u8);
                IoStartNextPacket(device, 1);
                KeLowerIrql(old);
            })
        })
        .unwrap_err();
    assert_eq!(bug.0.rule, Rule::DeviceQueueNotBusy);
    assert_eq!(bug.0.rule.stop_code().code, 0x2);
}

#[test]
fn start_next_below_dispatch_level_is_reported() {
    let kernel = Kernel::new();
    let driver = kernel.load("startio-cancel", entry).unwrap();
    // SAFETY: the fixture's device, called at PASSIVE_LEVEL on purpose.
    let device = unsafe { (*driver.object()).DeviceObject };
    let bug = kernel
        // SAFETY: the fixture's device, called at PASSIVE_LEVEL on purpose.
        .catch(|| kernel.run(|| unsafe { IoStartNextPacket(device, 1) }))
        .unwrap_err();
    assert_eq!(bug.0.rule, Rule::IrqlNotDispatch);
}

#[test]
fn start_next_not_cancelable_with_armed_irps_queued_is_reported() {
    // The driver arms cancel routines through IoStartPacket but calls IoStartNextPacket with
    // Cancelable = FALSE: CurrentIrp changes without the cancel spin lock.
    let kernel = Kernel::new();
    let driver = kernel.load("startio-cancel-hold", entry).unwrap();
    let file = kernel.open(r"\\.\StartIo").unwrap();
    let first = file.start_read(1);
    let second = file.start_read(1);
    // SAFETY: the fixture's device, alive until unload.
    let device = unsafe { (*driver.object()).DeviceObject };
    // SAFETY: the held IRP is finished by hand at DISPATCH_LEVEL, the way a driver's DPC would,
    // but starting the next packet non-cancelably.
    kernel.run(|| unsafe {
        let old = KfRaiseIrql(DISPATCH_LEVEL as u8);
        let current = (*device).CurrentIrp;
        let mut irql = 0;
        IoAcquireCancelSpinLock(&mut irql);
        IoSetCancelRoutine(current, None);
        IoReleaseCancelSpinLock(irql);
        IoStartNextPacket(device, 0);
        complete(current, STATUS_SUCCESS, 0);
        KeLowerIrql(old);
    });
    assert!(kernel.was_reported(Rule::StartNextNotCancelable));
    first.wait();
    file.ioctl(0x222000, &[], 0);
    second.wait();
    file.close();
    driver.unload();
}
