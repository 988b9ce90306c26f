//! IRP_MJ_POWER (pnp-power.md §6), Vista and later: power IRPs are forwarded with IoCallDriver
//! and PoStartNextPowerIrp is not needed (it is a no-op since Vista).
//!
//! A filter passes every power IRP down untouched. A function driver is its device's power
//! policy owner:
//!
//! | IRP | what the framework does |
//! |---|---|
//! | system QUERY/SET_POWER (Sx) | marks it pending and forwards it; when the drivers below complete it, requests the device power IRP of the same minor for the D-state the capabilities map Sx to (PoRequestPowerIrp); that IRP's callback completes the S-IRP with the D-IRP's status (§6.5) |
//! | device SET_POWER to D1–D3 | on the way down: holds new I/O, [`d0_exit`](super::PnpDevice::d0_exit), PoSetPowerState, forwards |
//! | device SET_POWER to D0 | forwards with a completion routine; on the way up, at PASSIVE_LEVEL in a work item: PoSetPowerState, [`d0_entry`](super::PnpDevice::d0_entry), the held I/O, then completes it |
//! | anything else (device QUERY_POWER, WAIT_WAKE, POWER_SEQUENCE, unknown) | passed down untouched |
//!
//! Nothing here fails a SET_POWER (SDV PowerDownFail, PowerUpFail): the hooks return `()`.
//!
//! **Wine.** Wine 8's PoRequestPowerIrp is an unimplemented stub that kills `winedevice.exe`
//! (wine-pnp.md). It is reached only from a system power IRP, and Wine sends none (§9.13), so
//! the framework imports it and never calls it there: no run-time lookup is needed (one would
//! not help either: MmGetSystemRoutineAddress finds Wine's stub). The simulator's Wine profile
//! (`Kernel::wine_checks`) reports a call as fatal, which the samples' tests use to show the
//! Wine path never makes one.

use core::sync::atomic::Ordering;

use wdm_sys::_POWER_STATE_TYPE::{DevicePowerState as DEVICE_POWER, SystemPowerState as SYSTEM_POWER};
use wdm_sys::_WORK_QUEUE_TYPE::DelayedWorkQueue;
use wdm_sys::ntddk::{
    IoCallDriver, IoCompleteRequest, IoCopyCurrentIrpStackLocationToNext, IoMarkIrpPending, IoQueueWorkItem,
    IoSetCompletionRoutine, PoRequestPowerIrp, PoSetPowerState,
};
use wdm_sys::{
    IO_NO_INCREMENT, IO_STATUS_BLOCK, IRP_MN_QUERY_POWER, IRP_MN_SET_POWER, NTSTATUS, PDEVICE_OBJECT, PIRP,
    POWER_STATE, PVOID, STATUS_CONTINUE_COMPLETION, STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING, UCHAR,
};

use super::device::{Dispatched, Ext, PnpHeader, drain, extension, location, pass_down, release};
use super::{PnpDevice, with_unlocked};

/// A device power state below D0, which [`PnpDevice::d0_exit`](super::PnpDevice::d0_exit) is
/// told the device is going to.
///
/// ```
/// use wdm::pnp::DevicePowerState;
///
/// fn loses_context(target: DevicePowerState) -> bool {
///     target == DevicePowerState::D3 // D1 and D2 keep it on most hardware
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevicePowerState {
    /// D1.
    D1,
    /// D2.
    D2,
    /// D3 (off).
    D3,
}

impl DevicePowerState {
    fn from_raw(raw: u32) -> Self {
        match raw {
            2 => Self::D1,
            3 => Self::D2,
            _ => Self::D3,
        }
    }
}

const D0: u32 = 1;
const D3: u32 = 4;

/// Records that the device is in D0 (START, or a power-up) and tells the power manager.
pub(crate) fn entered_d0(device: PDEVICE_OBJECT, pnp: &PnpHeader) {
    pnp.power.store(D0 as u8, Ordering::SeqCst);
    // SAFETY: our live device; PoSetPowerState may be called at <= DISPATCH_LEVEL for D0.
    let _ = unsafe { PoSetPowerState(device, DEVICE_POWER, POWER_STATE { DeviceState: D0 }) };
}

/// IRP_MJ_POWER for a device of `D`.
///
/// # Safety
/// The IRP was dispatched to `device` (a device of `D`) and holds an acquisition.
pub(crate) unsafe fn dispatch<D: PnpDevice>(device: PDEVICE_OBJECT, ext: Ext<'_, D>, irp: PIRP) -> Dispatched {
    // SAFETY: the caller's contract.
    let stack = unsafe { location(irp) };
    let minor = u32::from(stack.MinorFunction);
    // SAFETY: the power parameters of a power IRP's location.
    let kind = unsafe { stack.Parameters.Power.Type };
    // SAFETY: as above.
    let state = unsafe { stack.Parameters.Power.State };
    let lower = ext.pnp.lower;
    if ext.pnp.filter || !matches!(minor, IRP_MN_SET_POWER | IRP_MN_QUERY_POWER) {
        // SAFETY: the caller's contract.
        return unsafe { pass_down(lower, irp) };
    }
    if kind == SYSTEM_POWER {
        // SAFETY: as above.
        return unsafe { forward_with(lower, irp, Some(system_done::<D>), device) };
    }
    if kind != DEVICE_POWER || minor != IRP_MN_SET_POWER {
        // SAFETY: as above.
        return unsafe { pass_down(lower, irp) };
    }
    // SAFETY: a device power IRP's state.
    let target = unsafe { state.DeviceState };
    if target == D0 {
        // SAFETY: as above.
        return unsafe { forward_with(lower, irp, Some(device_up::<D>), device) };
    }
    // Power-down, on the way down (§6.6): hold new I/O, the hook, PoSetPowerState, forward.
    let was = ext.pnp.power.swap(target as u8, Ordering::SeqCst);
    // New I/O is held from here; what started before finishes before the hardware goes off.
    ext.pnp.quiesce();
    if u32::from(was) == D0 && ext.pnp.has_hardware() {
        // SAFETY: written at AddDevice, dropped only in REMOVE.
        let state = unsafe { ext.state.assume_init_ref() };
        with_unlocked(|cx| state.d0_exit(DevicePowerState::from_raw(target), cx));
    }
    // SAFETY: our device; a device state.
    let _ = unsafe { PoSetPowerState(device, DEVICE_POWER, POWER_STATE { DeviceState: target }) };
    // SAFETY: the caller's contract.
    unsafe { pass_down(lower, irp) }
}

type Routine = wdm_sys::PIO_COMPLETION_ROUTINE;

/// Marks the IRP pending, forwards it with `routine` (context: our device) and returns
/// STATUS_PENDING.
///
/// # Safety
/// The caller owns the IRP, with a location for `lower`, and holds its acquisition.
unsafe fn forward_with(lower: PDEVICE_OBJECT, irp: PIRP, routine: Routine, device: PDEVICE_OBJECT) -> Dispatched {
    // SAFETY: the caller's contract; the routine runs once, with our device as context.
    unsafe { IoMarkIrpPending(irp) };
    // SAFETY: as above.
    unsafe { IoCopyCurrentIrpStackLocationToNext(irp) };
    // SAFETY: as above.
    unsafe { IoSetCompletionRoutine(irp, routine, device.cast(), true, true, true) };
    // SAFETY: as above; the IRP comes back in `routine`.
    let _ = unsafe { IoCallDriver(lower, irp) };
    // The completion routine (or the callback, or the work item) releases the acquisition.
    Dispatched::kept(STATUS_PENDING)
}

wdm_sys::callback! {
    /// A system power IRP came back up: request the matching device power IRP (§6.5).
    unsafe fn system_done<D: PnpDevice>(_device: PDEVICE_OBJECT, irp: PIRP, context: PVOID) -> NTSTATUS {
        let device: PDEVICE_OBJECT = context.cast();
        // SAFETY: the IRP is ours again in its completion routine.
        let status = unsafe { crate::irp::status_of(irp) };
        if status < 0 {
            // A failed query (or a failed set, which should not happen): it goes up as is.
            // SAFETY: the acquisition the dispatch took; the device is live until it is released.
            unsafe { release(device, irp) };
            return STATUS_CONTINUE_COMPLETION;
        }
        // SAFETY: our location of a system power IRP.
        let stack = unsafe { location(irp) };
        let minor = stack.MinorFunction;
        // SAFETY: as above.
        let state = unsafe { stack.Parameters.Power.State };
        // SAFETY: a system power IRP's state is a system state.
        let system = unsafe { state.SystemState };
        // SAFETY: our device, live while the IRP holds its lock.
        let ext = unsafe { extension::<D>(device) };
        let mapped = ext
            .pnp
            .device_states
            .get(system as usize)
            .map_or(0, |d| u32::from(d.load(Ordering::SeqCst)));
        // Without a reported map: S0 is D0 and every sleep state D3 (the conservative choice).
        let target = match mapped {
            0 if system <= 1 => D0,
            0 => D3,
            d => d,
        };
        // SAFETY: the PDO of our stack; a device state; the callback gets the S-IRP as context
        // and completes it; no IRP out-pointer (SDV RequestedPowerIrp).
        let requested = unsafe {
            PoRequestPowerIrp(
                ext.pnp.pdo,
                minor,
                POWER_STATE { DeviceState: target },
                Some(device_done::<D>),
                irp.cast(),
                core::ptr::null_mut(),
            )
        };
        if requested != STATUS_PENDING {
            // The request failed: the S-IRP goes up with that status.
            // SAFETY: our IRP again.
            unsafe { crate::irp::set_status(irp, requested) };
            // SAFETY: as above.
            unsafe { release(device, irp) };
            return STATUS_CONTINUE_COMPLETION;
        }
        STATUS_MORE_PROCESSING_REQUIRED
    }
}

wdm_sys::callback! {
    /// The device power IRP requested for a system one completed: the system IRP takes its
    /// status and completes.
    unsafe fn device_done<D: PnpDevice>(
        _pdo: PDEVICE_OBJECT,
        _minor: UCHAR,
        _state: POWER_STATE,
        context: PVOID,
        io_status: *mut IO_STATUS_BLOCK,
    ) {
        let irp: PIRP = context.cast();
        // SAFETY: the S-IRP, kept by `system_done` (MORE_PROCESSING_REQUIRED): its current
        // location is still ours, so its device is our device.
        let device = crate::irp::device_of_raw(irp);
        // SAFETY: the power manager passes the D-IRP's final status block.
        let block = unsafe { *io_status };
        // SAFETY: `Status` is the member the I/O manager writes.
        let status = unsafe { block.__bindgen_anon_1.Status };
        // SAFETY: our IRP, marked pending in dispatch; completed once.
        unsafe { crate::irp::set_status(irp, status) };
        // SAFETY: as above.
        unsafe { IoCompleteRequest(irp, IO_NO_INCREMENT as _) };
        // SAFETY: the acquisition its dispatch took; the device is live until it is released.
        unsafe { release(device, irp) };
    }
}

wdm_sys::callback! {
    /// A device SET_POWER(D0) came back up: finish at PASSIVE_LEVEL in the work item.
    unsafe fn device_up<D: PnpDevice>(_device: PDEVICE_OBJECT, irp: PIRP, context: PVOID) -> NTSTATUS {
        let device: PDEVICE_OBJECT = context.cast();
        // SAFETY: the IRP is ours again in its completion routine.
        if unsafe { crate::irp::status_of(irp) } < 0 {
            // The bus failed the power-up (the device is gone): it goes up as is.
            // SAFETY: the acquisition the dispatch took.
            unsafe { release(device, irp) };
            return STATUS_CONTINUE_COMPLETION;
        }
        // SAFETY: our device, live while the IRP holds its lock.
        let ext = unsafe { extension::<D>(device) };
        // SAFETY: the work item allocated at AddDevice, freed only after REMOVE's wait (which
        // this IRP's acquisition holds off); one power-up at a time (the power manager sends
        // one device SET_POWER at a time per device). The D-IRP is its context.
        unsafe { IoQueueWorkItem(ext.pnp.work_item, Some(power_up::<D>), DelayedWorkQueue, irp.cast()) };
        STATUS_MORE_PROCESSING_REQUIRED
    }
}

wdm_sys::callback! {
    /// The power-up's work at PASSIVE_LEVEL: PoSetPowerState(D0), the hook, the held I/O, then
    /// the D-IRP completes.
    unsafe fn power_up<D: PnpDevice>(device: PDEVICE_OBJECT, context: PVOID) {
        // The D0 SET_POWER IRP `device_up` kept.
        let irp: PIRP = context.cast();
        // SAFETY: the work item's device: ours, live while the D-IRP holds its lock.
        let ext = unsafe { extension::<D>(device) };
        let was = ext.pnp.power.load(Ordering::SeqCst);
        entered_d0(device, ext.pnp);
        if u32::from(was) != D0 && ext.pnp.has_hardware() {
            // SAFETY: written at AddDevice, dropped only in REMOVE.
            let state = unsafe { ext.state.assume_init_ref() };
            with_unlocked(|cx| state.d0_entry(cx));
        }
        drain::<D>(device, ext);
        // SAFETY: the D-IRP `device_up` kept; completed once, then its acquisition released.
        unsafe { IoCompleteRequest(irp, IO_NO_INCREMENT as _) };
        // SAFETY: its acquisition, released after the completion.
        unsafe { release(device, irp) };
    }
}
