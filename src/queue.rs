//! A cancel-safe queue of pending IRPs, built on IoSetCancelRoutine and a spin lock (not on the
//! IoCsq* exports, so it runs where those are missing, such as Wine).
//!
//! The guarantees of spec §5.4:
//! - an IRP is completed exactly once: either removed by the driver (which then owns it) or
//!   completed by the queue's cancel routine, never both — ownership is decided by the atomic
//!   exchange of the IRP's cancel routine;
//! - a cancelled IRP never stays queued: an IRP already cancelled when it is inserted is
//!   completed at once, and a cancellation during insertion is handed to the cancel routine;
//! - removal never returns an IRP whose cancel routine has started.

use alloc::boxed::Box;
use core::ptr::NonNull;

use wdm_sys::ntddk::{
    InitializeListHead, InsertTailList, IoGetCurrentIrpStackLocation, IoReleaseCancelSpinLock, IoSetCancelRoutine,
    IsListEmpty, RemoveEntryList,
};
use wdm_sys::{FILE_OBJECT, IRP, LIST_ENTRY, PDEVICE_OBJECT, PIRP, PLIST_ENTRY};

use crate::irp::PendingIrp;
use crate::{SpinLock, Status};

/// The list, on the heap so that the queue value itself may move.
struct List {
    head: LIST_ENTRY,
}

// SAFETY: the list links IRPs the queue owns; it is only touched under the queue's lock.
unsafe impl Send for List {}

/// A cancel-safe queue of pending IRPs.
pub struct IrpQueue {
    list: Box<SpinLock<List>>,
}

/// What a removal predicate can see of a queued IRP.
pub struct QueuedIrp<'a> {
    irp: &'a IRP,
}

impl QueuedIrp<'_> {
    /// The file object the request was made on (to remove one handle's requests at cleanup).
    pub fn file_object(&self) -> *const FILE_OBJECT {
        let irp = (self.irp as *const IRP).cast_mut();
        // SAFETY: a queued IRP is live; its current location belongs to this driver.
        let location = unsafe { IoGetCurrentIrpStackLocation(irp) };
        // SAFETY: as above.
        unsafe { (*location).FileObject }
    }

    /// The major function code.
    pub fn major_function(&self) -> u8 {
        let irp = (self.irp as *const IRP).cast_mut();
        // SAFETY: as in `file_object`.
        let location = unsafe { IoGetCurrentIrpStackLocation(irp) };
        // SAFETY: as above.
        unsafe { (*location).MajorFunction }
    }
}

/// `Tail.Overlay.ListEntry` of an IRP.
fn entry_of(irp: PIRP) -> PLIST_ENTRY {
    // SAFETY: only computes a field's address in a live IRP.
    unsafe { &raw mut (*irp).Tail.Overlay.__bindgen_anon_2.ListEntry }
}

/// The IRP whose `Tail.Overlay.ListEntry` is `entry`.
fn irp_of(entry: PLIST_ENTRY) -> PIRP {
    let probe = core::mem::MaybeUninit::<IRP>::uninit();
    let base = probe.as_ptr();
    // SAFETY: only computes a field's address inside the (uninitialized) local.
    let field = unsafe { &raw const (*base).Tail.Overlay.__bindgen_anon_2.ListEntry };
    let offset = field as usize - base as usize;
    entry.cast::<u8>().wrapping_sub(offset).cast()
}

/// `DriverContext[0]`: which queue a queued IRP is in (for the cancel routine).
fn owner_slot(irp: PIRP) -> *mut *mut SpinLock<List> {
    // SAFETY: only computes a field's address in a live IRP.
    unsafe { (&raw mut (*irp).Tail.Overlay.__bindgen_anon_1.__bindgen_anon_1.DriverContext).cast() }
}

impl Default for IrpQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl IrpQueue {
    /// An empty queue.
    pub fn new() -> Self {
        let list = Box::new(SpinLock::new(List {
            head: LIST_ENTRY::default(),
        }));
        {
            let mut l = list.lock();
            // SAFETY: the head lives in the Box, which never moves.
            unsafe { InitializeListHead(&raw mut l.head) };
        }
        Self { list }
    }

    fn lock_ptr(&self) -> *mut SpinLock<List> {
        (&raw const *self.list).cast_mut()
    }

    /// Queues `irp`, cancelable. If it is already cancelled it is completed with
    /// STATUS_CANCELLED instead (it never stays queued).
    pub fn insert(&self, irp: PendingIrp) {
        let raw = irp.into_raw().as_ptr();
        let mut list = self.list.lock();
        // SAFETY: the IRP is ours; DriverContext[0] is the driver's while it owns the IRP.
        unsafe { owner_slot(raw).write(self.lock_ptr()) };
        // SAFETY: the head is initialized and locked; the IRP's entry is free.
        unsafe { InsertTailList(&raw mut list.head, entry_of(raw)) };
        // SAFETY: arming the cancel routine on our queued IRP.
        unsafe { IoSetCancelRoutine(raw, Some(cancel_routine)) };
        // Irp->Cancel is set by IoCancelIrp before it takes the routine.
        let cancelled = NonNull::new(raw).is_some_and(crate::irp::cancel_requested);
        // SAFETY: as above: taking the routine back decides who owns the IRP.
        if cancelled && unsafe { IoSetCancelRoutine(raw, None) }.is_some() {
            // SAFETY: linked in this locked list.
            unsafe { RemoveEntryList(entry_of(raw)) };
            drop(list);
            // SAFETY: out of the queue, with its routine taken back: ours to complete.
            complete_cancelled(raw);
            return;
        }
        // Otherwise it stays queued; if IoCancelIrp took the routine, the cancel routine
        // (waiting for this lock) unlinks and completes it.
        drop(list);
    }

    /// Removes the first queued IRP for which `keep` is true and whose cancel routine has not
    /// started; the caller owns it.
    pub fn remove_first(&self, mut keep: impl FnMut(&QueuedIrp<'_>) -> bool) -> Option<PendingIrp> {
        let mut list = self.list.lock();
        let head: PLIST_ENTRY = &raw mut list.head;
        // SAFETY: the locked list.
        let mut e = unsafe { (*head).Flink };
        while e != head {
            let irp = irp_of(e);
            // SAFETY: linked entries stay valid while the list is locked.
            let next = unsafe { (*e).Flink };
            // SAFETY: a queued, live IRP.
            let view = QueuedIrp { irp: unsafe { &*irp } };
            // SAFETY: taking the routine back; NULL means the cancel routine has it.
            if keep(&view) && unsafe { IoSetCancelRoutine(irp, None) }.is_some() {
                // SAFETY: linked in this locked list.
                unsafe { RemoveEntryList(e) };
                drop(list);
                let irp = NonNull::new(irp)?;
                // SAFETY: out of the queue, routine taken back: the caller's now.
                return Some(unsafe { PendingIrp::from_raw(irp) });
            }
            e = next;
        }
        None
    }

    /// Removes the first queued IRP whose cancel routine has not started.
    pub fn remove_next(&self) -> Option<PendingIrp> {
        self.remove_first(|_| true)
    }

    /// Whether the queue is empty (of IRPs not yet taken by their cancel routine, or not).
    pub fn is_empty(&self) -> bool {
        let mut list = self.list.lock();
        // SAFETY: the locked, initialized list.
        unsafe { IsListEmpty(&raw mut list.head) }
    }
}

impl Drop for IrpQueue {
    fn drop(&mut self) {
        // Nothing may stay queued in a queue that goes away: complete what is left.
        while let Some(irp) = self.remove_next() {
            irp.complete(Status::CANCELLED);
        }
    }
}

fn complete_cancelled(irp: PIRP) {
    if let Some(irp) = NonNull::new(irp) {
        // SAFETY: the caller owns the pending IRP.
        let irp = unsafe { PendingIrp::from_raw(irp) };
        irp.complete(Status::CANCELLED);
    }
}

wdm_sys::callback! {
    /// The queue's cancel routine: releases the cancel lock first, then takes the IRP out of
    /// its queue under the queue's lock, and completes it.
    unsafe fn cancel_routine(_device: PDEVICE_OBJECT, irp: PIRP) {
        // SAFETY: called by IoCancelIrp with a live IRP and the cancel lock held.
        let cancel_irql = unsafe { (*irp).CancelIrql };
        // SAFETY: releasing the lock the I/O manager acquired, with its saved IRQL.
        unsafe { IoReleaseCancelSpinLock(cancel_irql) };
        // SAFETY: the IRP is queued: DriverContext[0] names its queue's lock.
        let lock = unsafe { owner_slot(irp).read() };
        // SAFETY: a queue outlives the IRPs in it (its Drop empties it first).
        let list = unsafe { &*lock }.lock();
        // SAFETY: still linked: removal skips IRPs whose routine was taken.
        unsafe { RemoveEntryList(entry_of(irp)) };
        drop(list);
        complete_cancelled(irp);
    }
}
