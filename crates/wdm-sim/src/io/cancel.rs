//! IoCancelIrp and calling cancel routines (spec §5.2-§5.3, ReactOS irp.c).

use wdm_sys::ntddk::{IoGetCurrentIrpStackLocation, IoSetCancelRoutine};
use wdm_sys::{BOOLEAN, DISPATCH_LEVEL, KIRQL, PDEVICE_OBJECT, PIRP};

use crate::irql;
use crate::kernel::{State, as_driver, current};
use crate::report::Rule;
use crate::spinlock::{self, LockKind};
use crate::{irp, trace};

/// Calls `routine` for `irp` with the cancel spin lock held (by this processor) at
/// DISPATCH_LEVEL, `CancelIrql` already set; checks that it released the lock (0x11B).
pub(crate) fn call_cancel_routine(
    k: &State,
    device: PDEVICE_OBJECT,
    irp: PIRP,
    routine: unsafe extern "C-unwind" fn(PDEVICE_OBJECT, PIRP),
    caller: &'static str,
) {
    // SAFETY: a live IRP (callers check).
    let cancel_irql = unsafe { (*irp).CancelIrql };
    let owner = if device.is_null() {
        0
    } else {
        // SAFETY: a live device in the IRP's stack.
        unsafe { (*device).DriverObject as usize }
    };
    trace::irp(k, irp, trace::Event::CancelRoutine);
    irql::set(DISPATCH_LEVEL as KIRQL);
    // SAFETY: calling the driver's cancel routine as the I/O manager does: lock held,
    // CancelRoutine cleared, Cancel set.
    as_driver(owner, || unsafe { routine(device, irp) });
    if spinlock::holds(k.cancel_lock() as usize) {
        // Release it on the driver's behalf so the report is the only consequence.
        spinlock::release(k, k.cancel_lock(), LockKind::Cancel, caller);
        irql::set(cancel_irql);
        k.report(
            Rule::ReturnedHoldingCancelLock,
            caller,
            Some(irp as usize),
            [routine as usize, irp as usize, 0, 0],
            "the cancel routine returned without releasing the cancel spin lock (it must call IoReleaseCancelSpinLock(Irp->CancelIrql))".into(),
        );
        return;
    }
    let now = irql::get();
    if now != cancel_irql {
        k.report(
            Rule::CancelIrqlNotRestored,
            caller,
            Some(irp as usize),
            [routine as usize, irp as usize, usize::from(now), usize::from(cancel_irql)],
            format!("the cancel routine returned at IRQL {now}; releasing the cancel lock with Irp->CancelIrql restores {cancel_irql}"),
        );
    }
}

/// CancelIoEx's path: cancel a request IRP the I/O manager made, unless it completed already
/// (then nothing happens, as CancelIoEx returns ERROR_NOT_FOUND).
pub(crate) fn cancel_request(k: &State, irp: PIRP) -> bool {
    if !irp::is_known(k, irp) {
        return false;
    }
    cancel(k, irp)
}

/// `IoCancelIrp`.
///
/// # Safety
/// Kernel routine: `irp` must be an IRP the caller created or is entitled to cancel.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoCancelIrp(irp: PIRP) -> BOOLEAN {
    let k = current();
    if !irp::is_known(k, irp) && !irp::is_completed(irp) {
        k.report(
            Rule::InvalidParameter,
            "IoCancelIrp",
            Some(irp as usize),
            [irp as usize, 0, 0, 0],
            "cancelling something that is not a live IRP".into(),
        );
        return 0;
    }
    BOOLEAN::from(cancel(k, irp))
}

fn cancel(k: &State, irp: PIRP) -> bool {
    trace::irp(k, irp, trace::Event::CancelRequested);
    let old = spinlock::acquire_raise(k, k.cancel_lock(), LockKind::Cancel, "IoCancelIrp");
    // Atomic: the IRP's owner may be reading it on another processor, without the lock.
    irp::set_cancel_flag(irp);
    // SAFETY: as above.
    let routine = unsafe { IoSetCancelRoutine(irp, None) };
    let Some(routine) = routine else {
        spinlock::release_lower(k, k.cancel_lock(), LockKind::Cancel, old, "IoCancelIrp");
        return false;
    };
    if irp::is_completed(irp) {
        k.report(
            Rule::CancelStateInCompletedIrp,
            "IoCancelIrp",
            Some(irp as usize),
            [irp as usize, routine as usize, 0, 0],
            "the IRP was completed with its cancel routine still set, and IoCancelIrp found it (CANCEL_STATE_IN_COMPLETED_IRP)".into(),
        );
        // Reached only while unwinding (see `State::report`): no cancel routine for a
        // completed IRP.
        spinlock::release_lower(k, k.cancel_lock(), LockKind::Cancel, old, "IoCancelIrp");
        return false;
    }
    // SAFETY: a live IRP.
    unsafe { (*irp).CancelIrql = old };
    // SAFETY: a live IRP whose current location belongs to the driver that armed the routine.
    let location = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: as above; a field read, not a reference to the location (the owner may be using
    // it on another processor).
    let device = unsafe { (*location).DeviceObject };
    call_cancel_routine(k, device, irp, routine, "IoCancelIrp");
    true
}
