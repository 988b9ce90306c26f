//! IoStartPacket, IoStartNextPacket(ByKey), IoSetStartIoAttributes and the StartIo hand-off
//! (spec §3-§4, ReactOS device.c).
//!
//! Decisions on the spec's open points:
//! - IoSetStartIoAttributes only sets bits (ReactOS): passing FALSE never clears DEFERRED or
//!   NO_CANCEL set earlier.
//! - Deferred StartIo counts every StartIo entry, including the one IoStartPacket makes, so
//!   StartIo is never re-entered on a deferred device (the DDI's promise; ReactOS lets one level
//!   through). Nested start-next requests collapse into one, flags ORed and the last key kept,
//!   and the loop runs them with the recorded mode and key.
//! - IoStartNextPacketByKey runs StartIo at DISPATCH_LEVEL even when called below it (the
//!   simulator raises around the call; ReactOS does not raise).
//! - StartIoCancel (check i, trace order): IoSetCancelRoutine is an inline routine the kernel
//!   never sees, so the simulator checks at the first point it can: when it hands an IRP to
//!   StartIo on a device declared cancelable with IoSetStartIoAttributes(NonCancelable=FALSE),
//!   that IRP carries no cancel routine, and the driver has never armed one (through
//!   IoStartPacket's CancelFunction or on any IRP handed to StartIo) — it declared cancelable
//!   StartIo before operating the cancel-routine protocol. The window injection (check ii) is in
//!   the exploration tests.

use std::sync::Mutex;

use wdm_sys::ntddk::IoSetCancelRoutine;
use wdm_sys::{
    BOOLEAN, DISPATCH_LEVEL, KIRQL, PDEVICE_OBJECT, PDRIVER_CANCEL, PIRP, PKDEVICE_QUEUE_ENTRY, PULONG, ULONG,
};

use crate::irql;
use crate::kernel::{State, as_driver, current, lock, processor};
use crate::object::device_sim;
use crate::report::Rule;
use crate::spinlock::{self, LockKind};
use crate::{devqueue, sched, trace};

/// A device's StartIo state (the ReactOS device-object extension fields, plus what the checks
/// need).
#[derive(Default, Debug)]
pub(crate) struct StartIo {
    deferred: bool,
    no_cancel: bool,
    /// IoSetStartIoAttributes was called with NonCancelable = FALSE.
    declared_cancelable: bool,
    /// StartIo entries in progress on this device (deferral counter).
    count: u32,
    /// A start-next request recorded while deferred: (key, cancelable).
    recorded: Option<(Option<ULONG>, bool)>,
    /// StartIo invocations in progress on this device: (processor, hand-offs at entry).
    active: Vec<(u32, u64)>,
    /// IoStartNextPacket calls so far: an invocation entered before the latest one has handed
    /// its packet on and may still be returning on its processor.
    hand_offs: u64,
}

pub(crate) type StartIoState = Mutex<StartIo>;

/// The IRP whose device-queue entry this is.
fn irp_of(entry: PKDEVICE_QUEUE_ENTRY) -> PIRP {
    let offset = std::mem::offset_of!(wdm_sys::IRP, Tail);
    entry.cast::<u8>().wrapping_sub(offset).cast()
}

fn queue_entry(irp: PIRP) -> PKDEVICE_QUEUE_ENTRY {
    // SAFETY: only computes the address of the entry inside the live IRP.
    unsafe { &raw mut (*irp).Tail.Overlay.__bindgen_anon_1.DeviceQueueEntry }
}

/// Calls the driver's StartIo at DISPATCH_LEVEL, with the serialization checks.
fn call_start_io(k: &State, device: PDEVICE_OBJECT, irp: PIRP) {
    // SAFETY: a live device and its driver object.
    let driver = unsafe { (*device).DriverObject };
    // SAFETY: as above.
    let Some(start_io) = (unsafe { (*driver).DriverStartIo }) else {
        k.report(
            Rule::InvalidParameter,
            "IoStartPacket",
            Some(irp as usize),
            [device as usize, irp as usize, 0, 0],
            "the driver has no StartIo routine".into(),
        );
        return;
    };
    // SAFETY: every device here was created by the simulator.
    let sim = unsafe { device_sim(device) };
    let me = processor();
    {
        let mut s = lock(&sim.start_io);
        // Another processor still inside StartIo is fine once its packet was handed on
        // (IoStartNextPacket since it entered): it is returning, as happens on Windows when a DPC
        // on another processor finishes the packet first. Without a hand-off, two StartIos run
        // for one device at once. Either way StartIo is called: the simulator never drops a packet.
        let generation = s.hand_offs;
        let others: Vec<u32> = s
            .active
            .iter()
            .filter(|&&(p, g)| p != me && g == generation)
            .map(|&(p, _)| p)
            .collect();
        if !others.is_empty() {
            drop(s);
            k.report(
                Rule::ConcurrentStartIo,
                "StartIo",
                Some(irp as usize),
                [device as usize, irp as usize, 0, 0],
                format!("StartIo entered on CPU {me} while it runs on CPU {others:?} for the same device"),
            );
            s = lock(&sim.start_io);
        }
        if s.active.iter().any(|&(p, _)| p == me) {
            let depth = s.active.len() + 1;
            drop(s);
            k.report(
                Rule::StartIoRecursion,
                "StartIo",
                Some(irp as usize),
                [device as usize, irp as usize, depth, 0],
                format!("StartIo re-entered from itself (depth {depth}): set DeferredStartIo before calling IoStartNextPacket in StartIo"),
            );
            s = lock(&sim.start_io);
        }
        let generation = s.hand_offs;
        s.active.push((me, generation));
    }
    trace::irp(k, irp, trace::Event::Started);
    let old = irql::get();
    irql::set(DISPATCH_LEVEL as KIRQL);
    // SAFETY: calling the driver's StartIo with a live device and an IRP it owns, as Windows.
    as_driver(driver as usize, || unsafe { start_io(device, irp) });
    crate::irp::check_return_irql(k, "StartIo", DISPATCH_LEVEL as KIRQL, Some(irp));
    irql::set(old);
    let mut s = lock(&sim.start_io);
    if let Some(at) = s.active.iter().rposition(|&(p, _)| p == me) {
        s.active.remove(at);
    }
}

/// Checks the hand-off of an IRP to StartIo for the StartIoCancel rule.
fn check_start_io_cancel(k: &State, device: PDEVICE_OBJECT, irp: PIRP) {
    // SAFETY: a live simulator device.
    let sim = unsafe { device_sim(device) };
    let declared = {
        let s = lock(&sim.start_io);
        s.declared_cancelable && !s.no_cancel
    };
    // SAFETY: a live device.
    let driver = unsafe { (*device).DriverObject } as usize;
    // A live IRP the I/O manager is handing over; IoCancelIrp may be taking its routine.
    if crate::irp::cancel_routine(irp).is_some() {
        lock(&k.cancel_armed).insert(driver);
        return;
    }
    if declared && !lock(&k.cancel_armed).contains(&driver) {
        k.report(
            Rule::StartIoCancel,
            "IoStartPacket",
            Some(irp as usize),
            [device as usize, irp as usize, 0, 0],
            "IoSetStartIoAttributes(NonCancelable=FALSE) declared StartIo cancelable, but the driver never armed a cancel routine"
                .into(),
        );
    }
}

/// `IoStartPacket`.
///
/// # Safety
/// Kernel routine: a live device with StartIo, an IRP the caller owns (marked pending).
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoStartPacket(device: PDEVICE_OBJECT, irp: PIRP, key: PULONG, cancel: PDRIVER_CANCEL) {
    let k = current();
    let caller = irql::get();
    if caller > DISPATCH_LEVEL as KIRQL {
        spinlock::require_dispatch(k, "IoStartPacket");
    }
    irql::set(DISPATCH_LEVEL as KIRQL);
    // SAFETY: a live device created by the simulator.
    let sim = unsafe { device_sim(device) };
    let mut cancel_irql: KIRQL = 0;
    if cancel.is_some() {
        cancel_irql = spinlock::acquire_raise(k, k.cancel_lock(), LockKind::Cancel, "IoStartPacket");
        // SAFETY: a live device.
        lock(&k.cancel_armed).insert(unsafe { (*device).DriverObject } as usize);
        // SAFETY: the caller owns the live IRP; the cancel lock is held.
        unsafe { IoSetCancelRoutine(irp, cancel) };
    }
    // SAFETY: a live device: its queue is initialized.
    let queue = unsafe { &raw mut (*device).DeviceQueue };
    // SAFETY: `key` is NULL or readable (caller's contract).
    let key = unsafe { key.as_ref() }.copied();
    let inserted = devqueue::insert(k, queue, queue_entry(irp), key);
    if !inserted {
        // SAFETY: a live device; CurrentIrp is the I/O manager's field.
        unsafe { (*device).CurrentIrp = irp };
        let no_cancel = lock(&sim.start_io).no_cancel;
        if cancel.is_some() {
            if no_cancel {
                // SAFETY: the cancel lock is held.
                unsafe { IoSetCancelRoutine(irp, None) };
            }
            spinlock::release_lower(k, k.cancel_lock(), LockKind::Cancel, cancel_irql, "IoStartPacket");
        }
        check_start_io_cancel(k, device, irp);
        // Spec §4: between dropping the cancel lock and entering StartIo another processor can
        // cancel the IRP.
        sched::preempt("IoStartPacket: lock released, StartIo not yet entered");
        start_io_entry(k, device, irp);
    } else {
        trace::irp(k, irp, trace::Event::Queued);
        if let Some(routine) = cancel {
            // The IRP is queued and the cancel lock held; Cancel is read under it.
            if crate::irp::cancel_flag(irp) {
                // SAFETY: as above.
                unsafe {
                    (*irp).CancelIrql = cancel_irql;
                }
                // SAFETY: the cancel lock is held.
                unsafe { IoSetCancelRoutine(irp, None) };
                crate::cancel::call_cancel_routine(k, device, irp, routine, "IoStartPacket");
            } else {
                spinlock::release_lower(k, k.cancel_lock(), LockKind::Cancel, cancel_irql, "IoStartPacket");
            }
        }
    }
    irql::set(caller);
}

/// Runs StartIo for a packet taken from the queue (or handed over idle), counting the entry
/// for deferral.
fn start_io_entry(k: &State, device: PDEVICE_OBJECT, irp: PIRP) {
    // SAFETY: a live simulator device.
    let sim = unsafe { device_sim(device) };
    let deferred = {
        let mut s = lock(&sim.start_io);
        s.count += 1;
        s.deferred
    };
    call_start_io(k, device, irp);
    let recorded = {
        let mut s = lock(&sim.start_io);
        s.count -= 1;
        if s.count == 0 { s.recorded.take() } else { None }
    };
    if deferred && let Some((key, cancelable)) = recorded {
        start_next(k, device, cancelable, key, "IoStartNextPacket (deferred)");
    }
}

/// The start-next loop shared by IoStartNextPacket and IoStartNextPacketByKey.
fn start_next(k: &State, device: PDEVICE_OBJECT, cancelable: bool, key: Option<ULONG>, routine: &'static str) {
    // SAFETY: a live simulator device.
    let sim = unsafe { device_sim(device) };
    let mut request = (key, cancelable);
    loop {
        {
            let mut s = lock(&sim.start_io);
            if s.deferred && s.count > 0 {
                // A deferred StartIo is running higher up: only record the request.
                let (old_key, old_cancelable) = s.recorded.unwrap_or((None, false));
                s.recorded = Some((request.0.or(old_key), request.1 || old_cancelable));
                return;
            }
            s.count += u32::from(s.deferred);
            s.hand_offs += 1;
        }
        let (key, cancelable) = request;
        let mut cancel_irql = 0;
        if cancelable {
            cancel_irql = spinlock::acquire_raise(k, k.cancel_lock(), LockKind::Cancel, routine);
        }
        // SAFETY: a live device.
        unsafe { (*device).CurrentIrp = std::ptr::null_mut() };
        // SAFETY: a live device: its queue is initialized.
        let queue = unsafe { &raw mut (*device).DeviceQueue };
        let entry = devqueue::remove(k, queue, key, routine, false);
        if entry.is_null() {
            if cancelable {
                spinlock::release_lower(k, k.cancel_lock(), LockKind::Cancel, cancel_irql, routine);
            }
        } else {
            let irp = irp_of(entry);
            // SAFETY: a live device.
            unsafe { (*device).CurrentIrp = irp };
            let no_cancel = lock(&sim.start_io).no_cancel;
            if cancelable {
                if no_cancel {
                    // SAFETY: the cancel lock is held; the IRP is ours now.
                    unsafe { IoSetCancelRoutine(irp, None) };
                }
                spinlock::release_lower(k, k.cancel_lock(), LockKind::Cancel, cancel_irql, routine);
            } else {
                // A live IRP just dequeued (a cancel may be exchanging its routine).
                if crate::irp::cancel_routine(irp).is_some() {
                    k.report(
                        Rule::StartNextNotCancelable,
                        routine,
                        Some(irp as usize),
                        [device as usize, irp as usize, 0, 0],
                        "IoStartNextPacket(Cancelable=FALSE) handed over an IRP with a cancel routine: CurrentIrp changed without the cancel spin lock".into(),
                    );
                }
            }
            check_start_io_cancel(k, device, irp);
            sched::preempt("IoStartNextPacket: lock released, StartIo not yet entered");
            call_start_io(k, device, irp);
        }
        let deferred = {
            let mut s = lock(&sim.start_io);
            if !s.deferred {
                return;
            }
            s.count -= 1;
            match (s.count, s.recorded.take()) {
                (0, Some(r)) => r,
                _ => return,
            }
        };
        request = deferred;
    }
}

/// `IoStartNextPacket`: the caller is at DISPATCH_LEVEL (SDV IrqlDispatch).
///
/// # Safety
/// Kernel routine: a live device with StartIo.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoStartNextPacket(device: PDEVICE_OBJECT, cancelable: BOOLEAN) {
    let k = current();
    spinlock::require_dispatch(k, "IoStartNextPacket");
    crate::irp::check_no_locks(k, "IoStartNextPacket", None);
    start_next(k, device, cancelable != 0, None, "IoStartNextPacket");
}

/// `IoStartNextPacketByKey`: callable at IRQL <= DISPATCH_LEVEL; StartIo still runs at
/// DISPATCH_LEVEL.
///
/// # Safety
/// Kernel routine: a live device with StartIo.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoStartNextPacketByKey(device: PDEVICE_OBJECT, cancelable: BOOLEAN, key: ULONG) {
    let k = current();
    let caller = irql::get();
    if caller > DISPATCH_LEVEL as KIRQL {
        spinlock::require_dispatch(k, "IoStartNextPacketByKey");
    }
    crate::irp::check_no_locks(k, "IoStartNextPacketByKey", None);
    irql::set(DISPATCH_LEVEL as KIRQL);
    start_next(k, device, cancelable != 0, Some(key), "IoStartNextPacketByKey");
    irql::set(caller);
}

/// `IoSetStartIoAttributes`: sets DEFERRED and NO_CANCEL (never clears them).
///
/// # Safety
/// Kernel routine: a live device.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoSetStartIoAttributes(
    device: PDEVICE_OBJECT,
    deferred: BOOLEAN,
    non_cancelable: BOOLEAN,
) {
    let _ = current();
    // SAFETY: a live simulator device.
    let sim = unsafe { device_sim(device) };
    let mut s = lock(&sim.start_io);
    s.deferred |= deferred != 0;
    s.no_cancel |= non_cancelable != 0;
    s.declared_cancelable |= non_cancelable == 0;
}
