//! Cancel-safe IRP queues: the IoCsq* family (spec §5.4, ReactOS csq.c, DDI nf-wdm-iocsq*).
//!
//! The driver supplies the queue and its lock through callbacks; these routines keep the
//! cancel protocol: an IRP is completed exactly once, a cancelled IRP never stays queued, and
//! removal never returns an IRP whose cancel routine has started.
//!
//! Decisions on the spec's open points:
//! - IoCsqInsertIrpEx marks the IRP pending only when the driver's InsertIrpEx succeeds. On
//!   failure the IRP goes back to the caller, who completes it synchronously; marking it would
//!   make that return break the pending contract (0x23E). (ReactOS marks it before inserting.)
//! - When an IRP turns out to be cancelled already at insertion, CompleteCanceledIrp runs after
//!   the queue lock is released (ReactOS calls it under the lock). CompleteCanceledIrp completes
//!   the IRP, and IoCompleteRequest must not be called holding a spin lock (SpinLockSafe).
//! - IoCsqInsertIrpEx returns InsertIrpEx's own status when it succeeds (STATUS_PENDING
//!   included), as the DDI says; the project's Wine patch tests found that this simulator
//!   returned STATUS_SUCCESS instead.
//! - IoCsqInitialize(Ex) with a NULL callback fails with STATUS_INVALID_PARAMETER. Windows (and
//!   the spec) store the callbacks and succeed, and the driver faults at the first call of the
//!   missing one; refusing at once reports the same driver bug earlier, and a correct driver
//!   never sees the difference.

use wdm_sys::ntddk::{IoMarkIrpPending, IoSetCancelRoutine};
use wdm_sys::{
    IO_CSQ_INSERT_IRP_EX, IO_TYPE_CSQ, IO_TYPE_CSQ_EX, IO_TYPE_CSQ_IRP_CONTEXT, KIRQL, NTSTATUS, PDEVICE_OBJECT,
    PIO_CSQ, PIO_CSQ_ACQUIRE_LOCK, PIO_CSQ_COMPLETE_CANCELED_IRP, PIO_CSQ_INSERT_IRP, PIO_CSQ_IRP_CONTEXT,
    PIO_CSQ_PEEK_NEXT_IRP, PIO_CSQ_RELEASE_LOCK, PIO_CSQ_REMOVE_IRP, PIRP, PVOID, STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS, ULONG,
};

use crate::kernel::current;
use crate::report::Rule;

/// `DriverContext[3]`, which belongs to the cancel-safe queue while an IRP is queued.
fn context_slot(irp: PIRP) -> *mut PVOID {
    // SAFETY: only computes the address of a field of the caller's live IRP.
    unsafe {
        (&raw mut (*irp).Tail.Overlay.__bindgen_anon_1.__bindgen_anon_1.DriverContext)
            .cast::<PVOID>()
            .wrapping_add(3)
    }
}

/// The driver's callbacks, read once.
struct Callbacks {
    csq: PIO_CSQ,
    remove: unsafe extern "C-unwind" fn(PIO_CSQ, PIRP),
    peek: unsafe extern "C-unwind" fn(PIO_CSQ, PIRP, PVOID) -> PIRP,
    acquire: unsafe extern "C-unwind" fn(PIO_CSQ, *mut KIRQL),
    release: unsafe extern "C-unwind" fn(PIO_CSQ, KIRQL),
    complete_canceled: unsafe extern "C-unwind" fn(PIO_CSQ, PIRP),
}

impl Callbacks {
    /// # Safety
    /// `csq` must be a queue initialized by IoCsqInitialize(Ex).
    unsafe fn of(csq: PIO_CSQ, routine: &'static str) -> Option<Self> {
        // SAFETY: the caller guarantees an initialized queue.
        let q = unsafe { &*csq };
        match (
            q.CsqRemoveIrp,
            q.CsqPeekNextIrp,
            q.CsqAcquireLock,
            q.CsqReleaseLock,
            q.CsqCompleteCanceledIrp,
        ) {
            (Some(remove), Some(peek), Some(acquire), Some(release), Some(complete_canceled)) => Some(Self {
                csq,
                remove,
                peek,
                acquire,
                release,
                complete_canceled,
            }),
            _ => {
                current().report(
                    Rule::InvalidParameter,
                    routine,
                    None,
                    [csq as usize, 0, 0, 0],
                    "the cancel-safe queue was not initialized with IoCsqInitialize".into(),
                );
                None
            }
        }
    }

    fn lock(&self) -> KIRQL {
        let mut irql = 0;
        // SAFETY: the driver's lock callback, as the DDI calls it.
        unsafe { (self.acquire)(self.csq, &mut irql) };
        irql
    }

    fn unlock(&self, irql: KIRQL) {
        // SAFETY: the driver's unlock callback with the IRQL its lock returned.
        unsafe { (self.release)(self.csq, irql) };
    }

    fn remove(&self, irp: PIRP) {
        // SAFETY: the driver's remove callback, under its lock, for an IRP in its queue.
        unsafe { (self.remove)(self.csq, irp) };
    }

    fn complete_canceled(&self, irp: PIRP) {
        // SAFETY: the driver's completion callback for an IRP out of its queue.
        unsafe { (self.complete_canceled)(self.csq, irp) };
    }
}

/// Clears the queue's claim on `irp`: `DriverContext[3]`, and the context's IRP pointer.
fn clear_context(irp: PIRP) {
    let slot = context_slot(irp);
    // SAFETY: the slot is inside the live IRP.
    let value = unsafe { slot.read() };
    if !value.is_null() {
        let ctx = value.cast::<wdm_sys::IO_CSQ_IRP_CONTEXT>();
        // SAFETY: the slot holds either the queue or a context; both start with `Type`.
        if unsafe { (*ctx).Type } == IO_TYPE_CSQ_IRP_CONTEXT {
            // SAFETY: a context the driver passed to IoCsqInsertIrp(Ex), alive while queued.
            unsafe { (*ctx).Irp = std::ptr::null_mut() };
        }
    }
    // SAFETY: as above.
    unsafe { slot.write(std::ptr::null_mut()) };
}

/// The queue an IRP's `DriverContext[3]` points to (directly, or through its context).
fn queue_of(irp: PIRP) -> PIO_CSQ {
    // SAFETY: the slot is inside the live IRP.
    let value = unsafe { context_slot(irp).read() };
    let ctx = value.cast::<wdm_sys::IO_CSQ_IRP_CONTEXT>();
    // SAFETY: the slot holds either the queue or a context; both start with `Type`.
    if !value.is_null() && unsafe { (*ctx).Type } == IO_TYPE_CSQ_IRP_CONTEXT {
        // SAFETY: a live context.
        unsafe { (*ctx).Csq }
    } else {
        value.cast()
    }
}

/// The cancel routine the queue arms on every queued IRP.
unsafe extern "C-unwind" fn csq_cancel(_device: PDEVICE_OBJECT, irp: PIRP) {
    // SAFETY: called by IoCancelIrp with the cancel lock held, for a live IRP.
    let cancel_irql = unsafe { (*irp).CancelIrql };
    crate::spinlock::IoReleaseCancelSpinLock(cancel_irql);
    let csq = queue_of(irp);
    // SAFETY: the queue the IRP was inserted into, alive while it has IRPs.
    let Some(cb) = (unsafe { Callbacks::of(csq, "IoCsq cancel routine") }) else {
        return;
    };
    let irql = cb.lock();
    cb.remove(irp);
    clear_context(irp);
    cb.unlock(irql);
    cb.complete_canceled(irp);
}

/// The callbacks a queue is initialized with.
struct Init {
    insert: PIO_CSQ_INSERT_IRP,
    remove: PIO_CSQ_REMOVE_IRP,
    peek: PIO_CSQ_PEEK_NEXT_IRP,
    acquire: PIO_CSQ_ACQUIRE_LOCK,
    release: PIO_CSQ_RELEASE_LOCK,
    complete_canceled: PIO_CSQ_COMPLETE_CANCELED_IRP,
}

fn initialize(csq: PIO_CSQ, kind: ULONG, i: Init) -> NTSTATUS {
    let _ = current();
    let complete = i.insert.is_some()
        && i.remove.is_some()
        && i.peek.is_some()
        && i.acquire.is_some()
        && i.release.is_some()
        && i.complete_canceled.is_some();
    if csq.is_null() || !complete {
        return STATUS_INVALID_PARAMETER;
    }
    let queue = wdm_sys::IO_CSQ {
        Type: kind,
        CsqInsertIrp: i.insert,
        CsqRemoveIrp: i.remove,
        CsqPeekNextIrp: i.peek,
        CsqAcquireLock: i.acquire,
        CsqReleaseLock: i.release,
        CsqCompleteCanceledIrp: i.complete_canceled,
        ReservePointer: std::ptr::null_mut(),
    };
    // SAFETY: the caller's writable queue.
    unsafe { csq.write(queue) };
    STATUS_SUCCESS
}

/// `IoCsqInitialize`.
///
/// # Safety
/// Kernel routine: `csq` writable, callbacks valid.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoCsqInitialize(
    csq: PIO_CSQ,
    insert: PIO_CSQ_INSERT_IRP,
    remove: PIO_CSQ_REMOVE_IRP,
    peek: PIO_CSQ_PEEK_NEXT_IRP,
    acquire: PIO_CSQ_ACQUIRE_LOCK,
    release: PIO_CSQ_RELEASE_LOCK,
    complete_canceled: PIO_CSQ_COMPLETE_CANCELED_IRP,
) -> NTSTATUS {
    initialize(
        csq,
        IO_TYPE_CSQ,
        Init {
            insert,
            remove,
            peek,
            acquire,
            release,
            complete_canceled,
        },
    )
}

/// `IoCsqInitializeEx`: as IoCsqInitialize, with an InsertIrpEx that can refuse.
///
/// # Safety
/// Kernel routine: `csq` writable, callbacks valid.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoCsqInitializeEx(
    csq: PIO_CSQ,
    insert: IO_CSQ_INSERT_IRP_EX,
    remove: PIO_CSQ_REMOVE_IRP,
    peek: PIO_CSQ_PEEK_NEXT_IRP,
    acquire: PIO_CSQ_ACQUIRE_LOCK,
    release: PIO_CSQ_RELEASE_LOCK,
    complete_canceled: PIO_CSQ_COMPLETE_CANCELED_IRP,
) -> NTSTATUS {
    // The queue stores InsertIrpEx in the InsertIrp slot; `Type` says which it is.
    // SAFETY: both are pointer-sized function pointers; only called back with the right type.
    let insert = unsafe { std::mem::transmute::<IO_CSQ_INSERT_IRP_EX, PIO_CSQ_INSERT_IRP>(insert) };
    initialize(
        csq,
        IO_TYPE_CSQ_EX,
        Init {
            insert,
            remove,
            peek,
            acquire,
            release,
            complete_canceled,
        },
    )
}

fn insert(
    csq: PIO_CSQ,
    irp: PIRP,
    context: PIO_CSQ_IRP_CONTEXT,
    insert_context: PVOID,
    routine: &'static str,
) -> NTSTATUS {
    // SAFETY: the caller passes an initialized queue.
    let Some(cb) = (unsafe { Callbacks::of(csq, routine) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let (kind, raw_insert) = {
        // SAFETY: an initialized queue.
        let q = unsafe { &*csq };
        (q.Type, q.CsqInsertIrp)
    };
    let irql = cb.lock();
    // What IoCsqInsertIrpEx returns: InsertIrpEx's own status (STATUS_PENDING is a success).
    let mut result = STATUS_SUCCESS;
    let claim: PVOID = if context.is_null() {
        csq.cast()
    } else {
        // SAFETY: the driver's context, alive while the IRP is queued.
        unsafe {
            context.write(wdm_sys::IO_CSQ_IRP_CONTEXT {
                Type: IO_TYPE_CSQ_IRP_CONTEXT,
                Irp: irp,
                Csq: csq,
            });
        }
        context.cast()
    };
    // SAFETY: the slot is inside the caller's live IRP.
    unsafe { context_slot(irp).write(claim) };
    if kind == IO_TYPE_CSQ_EX {
        // SAFETY: the queue was initialized by IoCsqInitializeEx, which stored InsertIrpEx here.
        let insert_ex = unsafe { std::mem::transmute::<PIO_CSQ_INSERT_IRP, IO_CSQ_INSERT_IRP_EX>(raw_insert) };
        let status = match insert_ex {
            // SAFETY: the driver's insert callback, under its lock.
            Some(f) => unsafe { f(csq, irp, insert_context) },
            None => STATUS_INVALID_PARAMETER,
        };
        if !wdm_sys::NT_SUCCESS(status) {
            clear_context(irp);
            cb.unlock(irql);
            return status;
        }
        result = status;
    } else if let Some(f) = raw_insert {
        // SAFETY: the driver's insert callback, under its lock.
        unsafe { f(csq, irp) };
    }
    // SAFETY: the IRP is the caller's, now queued and about to be returned pending.
    unsafe { IoMarkIrpPending(irp) };
    // SAFETY: arming the queue's cancel routine on a live queued IRP.
    unsafe { IoSetCancelRoutine(irp, Some(csq_cancel)) };
    // Cancel is read after arming, as IoCancelIrp sets it before taking the routine.
    let cancelled = crate::irp::cancel_flag(irp);
    // SAFETY: as above: if IoCancelIrp has not taken the routine, we take it back.
    if cancelled && unsafe { IoSetCancelRoutine(irp, None) }.is_some() {
        cb.remove(irp);
        clear_context(irp);
        cb.unlock(irql);
        cb.complete_canceled(irp);
        return result;
    }
    cb.unlock(irql);
    result
}

/// `IoCsqInsertIrp`: queues the IRP (marked pending) with the queue's cancel routine armed.
///
/// # Safety
/// Kernel routine: an initialized queue, a live IRP the caller owns.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoCsqInsertIrp(csq: PIO_CSQ, irp: PIRP, context: PIO_CSQ_IRP_CONTEXT) {
    // IoCsqInsertIrp cannot fail: its Insert callback returns nothing.
    let _ = insert(csq, irp, context, std::ptr::null_mut(), "IoCsqInsertIrp");
}

/// `IoCsqInsertIrpEx`: as IoCsqInsertIrp; returns InsertIrpEx's status (a failure leaves the
/// IRP with the caller, not marked pending).
///
/// # Safety
/// Kernel routine: an initialized queue, a live IRP the caller owns.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoCsqInsertIrpEx(
    csq: PIO_CSQ,
    irp: PIRP,
    context: PIO_CSQ_IRP_CONTEXT,
    insert_context: PVOID,
) -> NTSTATUS {
    insert(csq, irp, context, insert_context, "IoCsqInsertIrpEx")
}

/// `IoCsqRemoveNextIrp`: the first queued IRP PeekNext offers whose cancel routine has not
/// started (NULL if none).
///
/// # Safety
/// Kernel routine: an initialized queue.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoCsqRemoveNextIrp(csq: PIO_CSQ, peek_context: PVOID) -> PIRP {
    // SAFETY: the caller passes an initialized queue.
    let Some(cb) = (unsafe { Callbacks::of(csq, "IoCsqRemoveNextIrp") }) else {
        return std::ptr::null_mut();
    };
    let irql = cb.lock();
    // SAFETY: the driver's peek callback, under its lock.
    let mut irp = unsafe { (cb.peek)(csq, std::ptr::null_mut(), peek_context) };
    while !irp.is_null() {
        // SAFETY: a queued, live IRP.
        if unsafe { IoSetCancelRoutine(irp, None) }.is_some() {
            cb.remove(irp);
            clear_context(irp);
            break;
        }
        // Its cancel routine is running and will remove it: skip it.
        // SAFETY: the driver's peek callback, under its lock.
        irp = unsafe { (cb.peek)(csq, irp, peek_context) };
    }
    cb.unlock(irql);
    irp
}

/// `IoCsqRemoveIrp`: the IRP inserted with `context`, unless it was cancelled (NULL).
///
/// # Safety
/// Kernel routine: an initialized queue, a context passed to an insert.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoCsqRemoveIrp(csq: PIO_CSQ, context: PIO_CSQ_IRP_CONTEXT) -> PIRP {
    // SAFETY: the caller passes an initialized queue.
    let Some(cb) = (unsafe { Callbacks::of(csq, "IoCsqRemoveIrp") }) else {
        return std::ptr::null_mut();
    };
    let irql = cb.lock();
    // SAFETY: the driver's context; the queue's routines update it under the lock.
    let irp = unsafe { (*context).Irp };
    // SAFETY: as above: a live queued IRP when non-NULL.
    if irp.is_null() || unsafe { IoSetCancelRoutine(irp, None) }.is_none() {
        cb.unlock(irql);
        return std::ptr::null_mut();
    }
    cb.remove(irp);
    clear_context(irp);
    cb.unlock(irql);
    irp
}
