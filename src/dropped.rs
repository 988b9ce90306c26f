//! Owned IRPs dropped where they cannot be completed.
//!
//! Dropping a [`PendingIrp`](crate::PendingIrp), a StartIo [`Packet`](crate::start_io::Packet)
//! or a [`HeldPacket`](crate::start_io::HeldPacket) completes it as cancelled, so that no IRP is
//! ever lost. A drop takes no proof, though, and Rust cannot forbid one in a scope: it may
//! happen inside a lock's closure (overwriting `Some(irp)` in the locked value). Completing there
//! would run other drivers' completion routines under the lock (SDV SpinLockSafe), and finishing
//! a packet there would run StartIo under it (which may take the same lock: 0xF).
//!
//! Every spin-lock holder runs at DISPATCH_LEVEL, so a drop at DISPATCH_LEVEL does not
//! complete: it queues the IRP on its device and queues the device's DPC, which completes (or
//! finishes) it once the processor is back below DISPATCH_LEVEL's critical sections — after the
//! lock is released, or after the DPC or StartIo that dropped it returns. Below DISPATCH_LEVEL
//! no spin lock can be held, and the drop completes at once.
//!
//! The queue lives in the device's header: a lock, a list of IRPs linked through
//! `Tail.Overlay.ListEntry` (the owner's while it owns the IRP), what to do with each in
//! `DriverContext[0]`, and a KDPC, all initialized by the first deferred drop. Unload flushes
//! the DPC before it deletes the devices. A driver that never drops an owned IRP at
//! DISPATCH_LEVEL never runs any of it.

use core::ptr::NonNull;

use wdm_sys::ntddk::{
    InitializeListHead, InsertTailList, IsListEmpty, KeAcquireSpinLockRaiseToDpc, KeInitializeDpc, KeInsertQueueDpc,
    KeReleaseSpinLock, RemoveHeadList,
};
use wdm_sys::{DEVICE_OBJECT, IRP, KDPC, KSPIN_LOCK, LIST_ENTRY, PKDPC, PLIST_ENTRY, PVOID};

use crate::Status;

/// What the DPC does with a dropped IRP (kept in `DriverContext[0]`).
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// Complete it with STATUS_CANCELLED.
    Complete = 1,
    /// A StartIo packet: start the next one (not cancelable), then complete it as cancelled.
    FinishPacket = 2,
    /// A StartIo packet of a device whose packets carry a Cancel routine.
    FinishCancelablePacket = 3,
}

/// The part of a device header that holds its dropped IRPs. All zero (as IoCreateDevice leaves
/// the extension) is its valid initial state: an unlocked lock, nothing initialized yet.
#[repr(C)]
pub(crate) struct Dropped {
    lock: KSPIN_LOCK,
    /// Set (under `lock`) once `list` and `dpc` are initialized.
    ready: bool,
    list: LIST_ENTRY,
    dpc: KDPC,
}

/// Whether the caller runs at DISPATCH_LEVEL (or above), where a spin lock may be held.
pub(crate) fn at_dispatch_level() -> bool {
    wdm_sys::inline::KeGetCurrentIrql() >= wdm_sys::DISPATCH_LEVEL as wdm_sys::KIRQL
}

fn kind_slot(irp: *mut IRP) -> *mut usize {
    crate::irp::driver_context(irp).cast()
}

/// The fields of a device's `Dropped`, as raw pointers (other processors use them concurrently,
/// under its lock: no reference covers them).
struct Fields {
    lock: *mut KSPIN_LOCK,
    ready: *mut bool,
    list: PLIST_ENTRY,
    dpc: PKDPC,
}

/// # Safety
/// `device` is a live framework device.
unsafe fn fields(device: *mut DEVICE_OBJECT) -> Fields {
    // SAFETY: a framework device: its extension starts with the header (caller).
    let header = unsafe { crate::device::header_of(device) };
    // SAFETY: as above; only the field's address.
    let d = unsafe { &raw mut (*header).dropped };
    // SAFETY: as above, for each field.
    let lock = unsafe { &raw mut (*d).lock };
    // SAFETY: as above.
    let ready = unsafe { &raw mut (*d).ready };
    // SAFETY: as above.
    let list = unsafe { &raw mut (*d).list };
    // SAFETY: as above.
    let dpc = unsafe { &raw mut (*d).dpc };
    Fields { lock, ready, list, dpc }
}

/// Hands a dropped IRP to its device's DPC.
///
/// # Safety
/// The caller owns `irp` (a live IRP sent to `device`, a framework device) and gives it up;
/// `device` is live until its driver's unload, which flushes the DPC before deleting it.
pub(crate) unsafe fn defer(device: *mut DEVICE_OBJECT, irp: NonNull<IRP>, kind: Kind) {
    // SAFETY: the caller's contract.
    let f = unsafe { fields(device) };
    let irp = irp.as_ptr();
    // SAFETY: the IRP is ours: DriverContext and ListEntry are free for its owner.
    unsafe { kind_slot(irp).write(kind as usize) };
    // SAFETY: the header's lock word, zeroed by IoCreateDevice (an initialized, free lock); the
    // caller runs at or below DISPATCH_LEVEL.
    let old = unsafe { KeAcquireSpinLockRaiseToDpc(f.lock) };
    // SAFETY: under the lock.
    if !unsafe { f.ready.read() } {
        // One-time initialization, under the lock. The list head lives in the device
        // extension, which never moves.
        // SAFETY: as above.
        unsafe { InitializeListHead(f.list) };
        // SAFETY: as above; the DPC's context is the device, live until unload flushes it.
        unsafe { KeInitializeDpc(f.dpc, Some(complete_dropped), device.cast()) };
        // SAFETY: as above.
        unsafe { f.ready.write(true) };
    }
    // SAFETY: under the lock; the IRP's entry is free.
    unsafe { InsertTailList(f.list, crate::irp::list_entry(irp)) };
    // Queued under the lock: the DPC takes the lock before it looks at the list, so it cannot
    // complete this IRP (which, for a PnP device, releases the remove lock and may let REMOVE
    // delete the device) before this routine's last use of the device.
    // SAFETY: an initialized DPC; queued again only once it has started (then it drains the
    // list, this entry included, or runs once more).
    unsafe { KeInsertQueueDpc(f.dpc, core::ptr::null_mut(), core::ptr::null_mut()) };
    // SAFETY: the lock acquired above, with its IRQL.
    unsafe { KeReleaseSpinLock(f.lock, old) };
}

/// Whether a drop was ever deferred on `device` (its DPC may be queued or running). Read at
/// unload, once the state (the last owner of IRPs) is dropped.
pub(crate) fn used(device: *mut DEVICE_OBJECT) -> bool {
    // SAFETY: a live framework device (unload walks its own devices).
    let f = unsafe { fields(device) };
    // SAFETY: written once, under the lock, before any DPC is queued; no drop races with unload
    // here (the state is gone).
    unsafe { f.ready.read() }
}

wdm_sys::callback! {
    /// The device's DPC: completes (or finishes) every IRP dropped on it since it last ran.
    unsafe fn complete_dropped(_dpc: PKDPC, context: PVOID, _a: PVOID, _b: PVOID) {
        let device = context.cast::<DEVICE_OBJECT>();
        // SAFETY: the DPC's context is a framework device, live until unload flushes the DPC.
        let f = unsafe { fields(device) };
        loop {
            // SAFETY: the header's initialized lock (the DPC exists, so `ready` is set); a DPC
            // runs at DISPATCH_LEVEL.
            let old = unsafe { KeAcquireSpinLockRaiseToDpc(f.lock) };
            // SAFETY: under the lock, an initialized list.
            let next = if unsafe { IsListEmpty(f.list) } {
                None
            } else {
                // SAFETY: as above; the list is not empty.
                Some(crate::irp::irp_of_list_entry(unsafe { RemoveHeadList(f.list) }))
            };
            // SAFETY: the lock acquired above.
            unsafe { KeReleaseSpinLock(f.lock, old) };
            let Some(irp) = next.and_then(NonNull::new) else {
                return;
            };
            // SAFETY: written by `defer` for every IRP in the list.
            let kind = unsafe { kind_slot(irp.as_ptr()).read() };
            // SAFETY: out of the list, the IRP is the DPC's to complete; its device is `device`
            // (a packet is an IRP sent to its StartIo device).
            unsafe { finish(device, irp, kind) };
        }
    }
}

/// Completes a dropped IRP, or finishes a dropped packet, as cancelled.
///
/// # Safety
/// The caller owns `irp`, runs at DISPATCH_LEVEL holding no spin lock, and for a packet
/// `device` is its StartIo device.
unsafe fn finish(device: *mut DEVICE_OBJECT, irp: NonNull<IRP>, kind: usize) {
    if kind == Kind::FinishPacket as usize || kind == Kind::FinishCancelablePacket as usize {
        let cancelable = kind == Kind::FinishCancelablePacket as usize;
        // SAFETY: a DPC runs at DISPATCH_LEVEL (the caller's contract).
        let level = unsafe { crate::irql::DispatchLevel::assume() };
        crate::start_io::finish_raw(irp, device, cancelable, Status::CANCELLED, 0, level);
    } else {
        // SAFETY: the caller owns the pending IRP and gives it up here.
        unsafe { crate::irp::complete_owned(irp, Status::CANCELLED) };
    }
}
