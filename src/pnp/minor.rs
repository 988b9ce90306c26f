//! IRP_MJ_PNP: the framework's side of every PnP minor (pnp-power.md §2, §3.1, §4).
//!
//! | minor | how | hook |
//! |---|---|---|
//! | START | forward and wait; then the hook; the framework completes | `start` (may fail: REMOVE follows) |
//! | QUERY_STOP, QUERY_REMOVE | the hook may veto (complete with its error); else SUCCESS, forward | `query_stop`, `query_remove` |
//! | STOP, SURPRISE_REMOVAL | the hook, then SUCCESS, forward | `stop`, `surprise_removal` (cannot fail) |
//! | CANCEL_STOP, CANCEL_REMOVE | forward and wait; restore the state; complete | none |
//! | REMOVE | the hook; SUCCESS, forward; release the remove lock and wait; drop the state; detach; delete | `remove` (cannot fail) |
//! | QUERY_CAPABILITIES | function drivers: forward and wait, record the S→D map, complete with the lower status | none |
//! | anything else | passed down untouched (IoStatus unchanged) | none |
//!
//! A PnP IRP is never held, whatever the state. START is handled by waiting in the dispatch
//! routine (blocking is legal in PnP dispatch at PASSIVE_LEVEL, §3.1) rather than by pending it:
//! Wine 8's PnP thread hangs on a START that returns STATUS_PENDING (pnp-power.md §9.10).

use wdm_sys::_EVENT_TYPE::NotificationEvent;
use wdm_sys::_KWAIT_REASON::Executive;
use wdm_sys::_MODE::KernelMode;
use wdm_sys::ntddk::{
    IoCallDriver, IoCopyCurrentIrpStackLocationToNext, IoReleaseRemoveLockAndWait, IoSetCompletionRoutine,
    KeInitializeEvent, KeSetEvent, KeWaitForSingleObject,
};
use wdm_sys::{
    IRP_MN_CANCEL_REMOVE_DEVICE, IRP_MN_CANCEL_STOP_DEVICE, IRP_MN_QUERY_CAPABILITIES, IRP_MN_QUERY_REMOVE_DEVICE,
    IRP_MN_QUERY_STOP_DEVICE, IRP_MN_REMOVE_DEVICE, IRP_MN_START_DEVICE, IRP_MN_STOP_DEVICE, IRP_MN_SURPRISE_REMOVAL,
    KEVENT, NTSTATUS, PDEVICE_OBJECT, PIRP, PVOID, STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING,
};

use core::sync::atomic::Ordering;

use super::device::{Dispatched, Ext, PnpState, complete, drain, location, pass_down};
use super::{PnpDevice, Started, veto, with_unlocked};
use crate::Status;

/// IRP_MJ_PNP for a device of `D`.
///
/// # Safety
/// The IRP was dispatched to `device` (a device of `D`) and holds an acquisition.
pub(crate) unsafe fn dispatch<D: PnpDevice>(device: PDEVICE_OBJECT, irp: PIRP) -> Dispatched {
    // SAFETY: the caller's contract.
    let minor = u32::from(unsafe { location(irp) }.MinorFunction);
    if minor == IRP_MN_REMOVE_DEVICE {
        // Before any reference to the extension is taken here: REMOVE frees it.
        // SAFETY: the caller's contract.
        return unsafe { remove::<D>(device, irp) };
    }
    // SAFETY: the caller's contract: a device of `D`, live while the IRP holds its lock.
    let ext = unsafe { super::device::extension::<D>(device) };
    // SAFETY: the state is written before the device gets IRPs and dropped only in REMOVE.
    let state = unsafe { ext.state.assume_init_ref() };
    let pnp = &ext.pnp;
    let lower = pnp.lower;
    // Every call below passes on the caller's contract: the IRP, dispatched to `device`, holds
    // its acquisition, which the call releases (or REMOVE's wait consumes).
    match minor {
        // SAFETY: as above.
        IRP_MN_START_DEVICE => unsafe { start(device, ext, irp) },
        IRP_MN_QUERY_STOP_DEVICE => match with_unlocked(|cx| state.query_stop(cx)) {
            // SAFETY: as above.
            Err(e) => unsafe { complete(irp, veto(e).raw()) },
            Ok(()) => {
                pnp.set_state(PnpState::StopPending);
                // SAFETY: as above.
                unsafe { succeed_down(lower, irp) }
            }
        },
        IRP_MN_STOP_DEVICE => {
            // New I/O has been held since QUERY_STOP; what started before it finishes first.
            pnp.quiesce();
            with_unlocked(|cx| state.stop(cx));
            pnp.set_state(PnpState::Stopped);
            // SAFETY: as above.
            unsafe { succeed_down(lower, irp) }
        }
        IRP_MN_CANCEL_STOP_DEVICE => {
            // SAFETY: as above.
            let status = unsafe { forward_and_wait(lower, irp) };
            if pnp.state() == PnpState::StopPending {
                pnp.set_state(PnpState::Started);
                drain::<D>(device, ext);
            }
            // SAFETY: as above.
            unsafe { complete(irp, status) }
        }
        IRP_MN_QUERY_REMOVE_DEVICE => match with_unlocked(|cx| state.query_remove(cx)) {
            // SAFETY: as above.
            Err(e) => unsafe { complete(irp, veto(e).raw()) },
            Ok(()) => {
                let was = pnp.state();
                if was != PnpState::RemovePending {
                    pnp.before_query_remove.store(was as u8, Ordering::SeqCst);
                }
                pnp.set_state(PnpState::RemovePending);
                // SAFETY: as above.
                unsafe { succeed_down(lower, irp) }
            }
        },
        IRP_MN_CANCEL_REMOVE_DEVICE => {
            // SAFETY: as above.
            let status = unsafe { forward_and_wait(lower, irp) };
            if pnp.state() == PnpState::RemovePending {
                let before = pnp.before_query_remove.load(Ordering::SeqCst);
                pnp.state.store(before, Ordering::SeqCst);
                drain::<D>(device, ext);
            }
            // SAFETY: as above.
            unsafe { complete(irp, status) }
        }
        IRP_MN_SURPRISE_REMOVAL => {
            pnp.set_state(PnpState::SurpriseRemoved);
            pnp.quiesce();
            pnp.set_interface(false);
            flush_held(ext, Status::NO_SUCH_DEVICE);
            with_unlocked(|cx| state.surprise_removal(cx));
            // SAFETY: as above.
            unsafe { succeed_down(lower, irp) }
        }
        IRP_MN_QUERY_CAPABILITIES if !pnp.filter => {
            // SAFETY: as above.
            let status = unsafe { forward_and_wait(lower, irp) };
            if status >= 0 {
                record_capabilities(ext, irp);
            }
            // SAFETY: as above.
            unsafe { complete(irp, status) }
        }
        // SAFETY: as above.
        _ => unsafe { pass_down(lower, irp) },
    }
}

/// START: the drivers below first, then the hook (§2.1, §3.1 "on the way up").
///
/// # Safety
/// As [`dispatch`].
unsafe fn start<D: PnpDevice>(device: PDEVICE_OBJECT, ext: Ext<'_, D>, irp: PIRP) -> Dispatched {
    let pnp = &ext.pnp;
    // SAFETY: the caller's contract.
    let lowered = unsafe { forward_and_wait(pnp.lower, irp) };
    if lowered < 0 {
        // The drivers below failed it: complete it with their status, unchanged.
        // SAFETY: as above.
        return unsafe { complete(irp, lowered) };
    }
    // SAFETY: as above; the START location's parameters, read while we own the IRP.
    let stack = unsafe { location(irp) };
    // SAFETY: a START location's parameters are the resource lists.
    let parameters = unsafe { stack.Parameters.StartDevice };
    let started = Started {
        raw: parameters.AllocatedResources,
        translated: parameters.AllocatedResourcesTranslated,
        _lent: core::marker::PhantomData,
    };
    // SAFETY: written at AddDevice, dropped only in REMOVE.
    let state = unsafe { ext.state.assume_init_ref() };
    if let Err(e) = with_unlocked(|cx| state.start(&started, cx)) {
        // SAFETY: as above.
        return unsafe { complete(irp, veto(e).raw()) };
    }
    if !pnp.filter {
        // START implies D0 (§6.6).
        super::power::entered_d0(device, pnp);
    }
    pnp.set_state(PnpState::Started);
    pnp.set_interface(true);
    if !pnp.filter {
        drain::<D>(device, ext);
    }
    // SAFETY: as above.
    unsafe { complete(irp, Status::SUCCESS.raw()) }
}

/// REMOVE (§3.1): nothing new, the hook, forward, wait for every request holding the lock,
/// drop the state, detach, delete. Returns the lower driver's status; the IRP is never
/// completed here.
///
/// # Safety
/// As [`dispatch`].
unsafe fn remove<D: PnpDevice>(device: PDEVICE_OBJECT, irp: PIRP) -> Dispatched {
    // The references to the extension end before the teardown frees it.
    let (lock, status) = {
        // SAFETY: the caller's contract.
        let ext = unsafe { super::device::extension::<D>(device) };
        let pnp = &ext.pnp;
        pnp.set_state(PnpState::Deleted);
        pnp.quiesce();
        pnp.set_interface(false);
        flush_held(ext, Status::DELETE_PENDING);
        // SAFETY: written at AddDevice; dropped in the teardown, after the wait.
        let state = unsafe { ext.state.assume_init_ref() };
        with_unlocked(|cx| state.remove(cx));
        // SAFETY: our IRP, which holds an acquisition (SDV RemoveLockMnRemove); passed down with
        // STATUS_SUCCESS (NsRemoveLockMnRemove), as the documented order has it: forward, then
        // wait.
        unsafe { crate::irp::set_status(irp, Status::SUCCESS.raw()) };
        // SAFETY: as above; the IRP has a location for the lower device.
        unsafe { wdm_sys::ntddk::IoSkipCurrentIrpStackLocation(irp) };
        // SAFETY: as above; the IRP goes down, never completed here.
        let status = unsafe { IoCallDriver(pnp.lower, irp) };
        (pnp.lock(), status)
    };
    // SAFETY: REMOVE's own acquisition: released with the bias, then every other one is waited
    // for. From here acquisitions fail (STATUS_DELETE_PENDING), so no request can reach the
    // state again. The lock lives in the extension, which only the teardown below frees.
    unsafe { IoReleaseRemoveLockAndWait(lock, irp.cast()) };
    // Every request has released its acquisition; a dispatch call may still be between its
    // release (or its IRP's completion) and its last use of the device: wait for those. New
    // calls no longer get that far (their acquisition fails first).
    {
        // SAFETY: the device is not deleted yet.
        let ext = unsafe { super::device::extension::<D>(device) };
        ext.pnp.wait_for_other_calls();
    }
    // SAFETY: a device of `D` with no request left and none to come.
    unsafe { super::device::teardown::<D>(device) };
    // REMOVE's acquisition was consumed by the wait: nothing to release, and the device is gone.
    Dispatched {
        status,
        release: false,
        gone: true,
    }
}

/// Completes the requests held for the device with `status`.
fn flush_held<D>(ext: Ext<'_, D>, status: Status) {
    if let Some(held) = ext.pnp.held.as_ref() {
        // SAFETY: the PnP paths hold no spin lock.
        let cx = unsafe { crate::Unlocked::new() };
        held.complete_all(status, &cx);
    }
}

/// Records the S→D map from a completed QUERY_CAPABILITIES (§2.7: the policy owner copies it).
fn record_capabilities<D>(ext: Ext<'_, D>, irp: PIRP) {
    // SAFETY: our IRP, completed by the drivers below and owned again; the location's buffer is
    // the PnP manager's, live while the IRP is.
    let stack = unsafe { location(irp) };
    // SAFETY: a QUERY_CAPABILITIES location's parameter is the buffer.
    let caps = unsafe { stack.Parameters.DeviceCapabilities.Capabilities };
    if caps.is_null() {
        return;
    }
    // SAFETY: as above.
    let states = unsafe { (*caps).DeviceState };
    for (slot, &d) in ext.pnp.device_states.iter().zip(states.iter()) {
        slot.store(u8::try_from(d).unwrap_or(0), Ordering::SeqCst);
    }
}

/// Sets STATUS_SUCCESS and passes the IRP down (§3.1 "handled on the way down").
///
/// # Safety
/// As [`dispatch`].
unsafe fn succeed_down(lower: PDEVICE_OBJECT, irp: PIRP) -> Dispatched {
    // SAFETY: the caller's contract.
    unsafe { crate::irp::set_status(irp, Status::SUCCESS.raw()) };
    // SAFETY: as above.
    unsafe { pass_down(lower, irp) }
}

/// Sends the IRP down and waits until the drivers below complete it; returns its status. The
/// IRP is this driver's again afterwards (its completion routine stops the completion).
///
/// # Safety
/// The caller owns the IRP, with a location for `lower`, at PASSIVE_LEVEL.
unsafe fn forward_and_wait(lower: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    let mut event = core::mem::MaybeUninit::<KEVENT>::uninit();
    let event = event.as_mut_ptr();
    // SAFETY: an event on this stack frame, which outlives the wait below.
    unsafe { KeInitializeEvent(event, NotificationEvent, 0) };
    // SAFETY: the caller's contract; the routine gets the event and signals it once.
    unsafe { IoCopyCurrentIrpStackLocationToNext(irp) };
    // SAFETY: as above.
    unsafe { IoSetCompletionRoutine(irp, Some(signal), event.cast(), true, true, true) };
    // SAFETY: as above.
    if unsafe { IoCallDriver(lower, irp) } == STATUS_PENDING {
        // SAFETY: PASSIVE_LEVEL (PnP IRPs arrive there); the event is live.
        let _ = unsafe { KeWaitForSingleObject(event.cast(), Executive, KernelMode as i8, 0, core::ptr::null_mut()) };
    }
    // SAFETY: the IRP is ours again.
    unsafe { crate::irp::status_of(irp) }
}

wdm_sys::callback! {
    /// [`forward_and_wait`]'s completion routine: wakes the dispatch routine and keeps the IRP.
    unsafe fn signal(_device: PDEVICE_OBJECT, _irp: PIRP, context: PVOID) -> NTSTATUS {
        // SAFETY: the event of the waiting dispatch routine, live until it wakes.
        unsafe { KeSetEvent(context.cast(), 0, 0) };
        STATUS_MORE_PROCESSING_REQUIRED
    }
}
