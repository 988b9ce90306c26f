//! WMI (pnp-power.md §7; DDI IoWMIRegistrationControl): registrations, IRP_MJ_SYSTEM_CONTROL
//! through a PnP stack, and the checks on both.
//!
//! **IoWMIRegistrationControl** records which device objects are WMI providers. The flags in
//! the high bits of Action (WMIREG_FLAG_*) are ignored: callback (trace) registrations are not
//! modelled. Decisions (the DDI lists the statuses without saying when each comes):
//! - REGISTER of a registered device: STATUS_OBJECT_NAME_EXISTS, and it stays registered;
//! - DEREGISTER, REREGISTER, UPDATE_GUIDS or BLOCK_IRPS of a device that is not registered:
//!   STATUS_INVALID_PARAMETER; any other action: STATUS_INVALID_PARAMETER.
//! - WMI's IRP_MN_REGINFO(_EX) after a registration is not sent: a test sends what it wants with
//!   [`crate::DeviceNode::system_control`].
//!
//! **IRP_MJ_SYSTEM_CONTROL** goes to the top of the stack with IoStatus NOT_SUPPORTED / 0 and
//! Parameters.WMI = { ProviderId, DataPath NULL, BufferSize 4096, Buffer: a zeroed 4096-byte
//! buffer }. A driver handles it only if ProviderId is its own registered device, and otherwise
//! passes it down untouched; the root bus's PDO completes it with IoStatus untouched.
//!
//! **Checks**:
//! - a non-PDO completed it and ProviderId is another device: 0xC9/0x220
//!   ([`Rule::WmiCompletedByOther`], SDV WmiForward);
//! - the device ProviderId names completed it without being registered: SDV WmiForward
//!   ([`Rule::WmiCompletedUnregistered`], no code): a driver that is no provider forwards;
//! - an IRP for another provider reached the PDO with IoStatus changed: 0xC9/0x210
//!   ([`Rule::WmiStatusChanged`]; 0x210 is Verifier's code for a WMI IRP whose status is not
//!   NOT_SUPPORTED where it must be, the WMI counterpart of PnP's 0x213);
//! - the driver unloads with a device still registered: 0xC4/0xDA
//!   ([`Rule::WmiRegisteredAtUnload`], fatal);
//! - IoDeleteDevice of a registered device: 0xC4/0xDB ([`Rule::WmiRegisteredAtDelete`], fatal).

use wdm_sys::{
    NTSTATUS, PDEVICE_OBJECT, PIRP, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED, STATUS_OBJECT_NAME_EXISTS,
    STATUS_SUCCESS, ULONG, WMIREG_ACTION_BLOCK_IRPS, WMIREG_ACTION_DEREGISTER, WMIREG_ACTION_REGISTER,
    WMIREG_ACTION_REREGISTER, WMIREG_ACTION_UPDATE_GUIDS,
};

use crate::irp::Completion;
use crate::kernel::{State, current, lock};
use crate::report::Rule;

/// The size of the buffer a WMI IRP carries.
pub(crate) const BUFFER_SIZE: usize = 4096;

/// `IoWMIRegistrationControl`.
///
/// # Safety
/// Kernel routine: `device` must be a device object.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoWMIRegistrationControl(device: PDEVICE_OBJECT, action: ULONG) -> NTSTATUS {
    let k = current();
    if lock(&k.objects)
        .devices
        .get(&(device as usize))
        .is_none_or(|d| d.delete_pending)
    {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: a live device object.
    let driver = unsafe { (*device).DriverObject } as usize;
    let mut pnp = lock(&k.pnp);
    let registered = pnp.wmi.contains_key(&(device as usize));
    match action & 0xFFFF {
        WMIREG_ACTION_REGISTER if registered => STATUS_OBJECT_NAME_EXISTS,
        WMIREG_ACTION_REGISTER => {
            pnp.wmi.insert(device as usize, driver);
            STATUS_SUCCESS
        }
        WMIREG_ACTION_DEREGISTER if registered => {
            pnp.wmi.remove(&(device as usize));
            STATUS_SUCCESS
        }
        WMIREG_ACTION_REREGISTER | WMIREG_ACTION_UPDATE_GUIDS | WMIREG_ACTION_BLOCK_IRPS if registered => {
            STATUS_SUCCESS
        }
        _ => STATUS_INVALID_PARAMETER,
    }
}

/// Whether `device` is registered as a WMI provider.
pub(crate) fn is_registered(k: &State, device: usize) -> bool {
    lock(&k.pnp).wmi.contains_key(&device)
}

/// IoDeleteDevice of a registered device: 0xC4/0xDB. The registration goes with the device.
pub(crate) fn on_delete(k: &State, device: PDEVICE_OBJECT) {
    if lock(&k.pnp).wmi.remove(&(device as usize)).is_some() {
        k.report(
            Rule::WmiRegisteredAtDelete,
            "IoDeleteDevice",
            None,
            [0xDB, device as usize, 0, 0],
            format!("{device:p} is deleted while registered with WMI: IoWMIRegistrationControl(WMIREG_ACTION_DEREGISTER) first"),
        );
    }
}

/// The driver `driver` unloads (or its DriverEntry failed): a device of it still registered is
/// 0xC4/0xDA.
pub(crate) fn check_unload(k: &State, driver: usize) {
    let left: Vec<usize> = {
        let mut pnp = lock(&k.pnp);
        let left: Vec<usize> = pnp
            .wmi
            .iter()
            .filter(|&(_, &d)| d == driver)
            .map(|(&dev, _)| dev)
            .collect();
        for d in &left {
            pnp.wmi.remove(d);
        }
        left
    };
    if let Some(&device) = left.first() {
        k.report(
            Rule::WmiRegisteredAtUnload,
            "driver unload",
            None,
            [0xDA, driver, device, left.len()],
            format!(
                "the driver unloads with {} device(s) still registered with WMI (the first {device:#x})",
                left.len()
            ),
        );
    }
}

/// The root bus's dispatch for IRP_MJ_SYSTEM_CONTROL: a PDO that is no WMI provider completes
/// the IRP with IoStatus untouched (§7).
///
/// # Safety
/// Called by IofCallDriver with one of the root bus's PDOs and a live IRP.
pub(crate) unsafe extern "C-unwind" fn root_system_control(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    let k = current();
    // SAFETY: the IRP is live and at this PDO's location.
    let location = unsafe { wdm_sys::ntddk::IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: as above.
    let minor = unsafe { (*location).MinorFunction };
    let Completion { status, information } = Completion::of(irp);
    {
        let mut pnp = lock(&k.pnp);
        if let Some(&i) = pnp.by_pdo.get(&(device as usize)) {
            pnp.nodes[i].wmi_arrivals.push((minor, status, information));
        }
    }
    // SAFETY: completing the IRP this PDO owns, once, IoStatus untouched.
    unsafe { crate::irp::IofCompleteRequest(irp, 0) };
    status
}

/// Sends IRP_MJ_SYSTEM_CONTROL `minor` for `provider` to node `i`'s stack and checks how it went.
pub(crate) fn send(kernel: &crate::Kernel, i: usize, minor: u8, provider: PDEVICE_OBJECT) -> Completion {
    let k = &kernel.state;
    let stack = super::stack_above(k, i);
    let arrivals_before = lock(&k.pnp).nodes[i].wmi_arrivals.len();
    let mut buffer = vec![0u8; BUFFER_SIZE];
    let buffer_ptr = buffer.as_mut_ptr();
    let (completion, completer) = super::send_irp(kernel, i, wdm_sys::IRP_MJ_SYSTEM_CONTROL as u8, minor, |irp| {
        // SAFETY: the fresh IRP's first location; the buffer outlives the IRP.
        let next = unsafe { crate::irp::next_location(irp) };
        // SAFETY: writing the WMI member of the parameter union.
        let p = unsafe { &mut next.Parameters.WMI };
        p.ProviderId = provider as usize as _;
        p.DataPath = std::ptr::null_mut();
        p.BufferSize = BUFFER_SIZE as u32;
        p.Buffer = buffer_ptr.cast();
    });
    drop(buffer);
    let arrived = lock(&k.pnp).nodes[i].wmi_arrivals[arrivals_before..].to_vec();
    let _bound = crate::kernel::Bound::new(k);
    let provider = provider as usize;
    let d = completer;
    if stack.contains(&d) {
        if d != provider {
            k.report(
                Rule::WmiCompletedByOther,
                "IRP_MJ_SYSTEM_CONTROL",
                None,
                [0x220, d, provider, usize::from(minor)],
                format!(
                    "device {d:#x} completed a WMI IRP (minor {minor:#x}) for provider {provider:#x}: a driver handles only the IRPs whose ProviderId is its own device, and passes the others down"
                ),
            );
        } else if !is_registered(k, d) {
            k.report(
                Rule::WmiCompletedUnregistered,
                "IRP_MJ_SYSTEM_CONTROL",
                None,
                [0, d, provider, usize::from(minor)],
                format!(
                    "device {d:#x} completed a WMI IRP (minor {minor:#x}) without being registered with IoWMIRegistrationControl: a driver that is no WMI provider forwards them"
                ),
            );
        }
    }
    if !stack.contains(&provider)
        && let Some(&(_, status, information)) = arrived.first()
        && (status != STATUS_NOT_SUPPORTED || information != 0)
    {
        k.report(
            Rule::WmiStatusChanged,
            "IRP_MJ_SYSTEM_CONTROL",
            None,
            [0x210, provider, status as u32 as usize, information],
            format!(
                "a WMI IRP (minor {minor:#x}) for another provider reached the PDO with IoStatus changed to {:#x} / {information}: pass it down untouched",
                status as u32
            ),
        );
    }
    completion
}
