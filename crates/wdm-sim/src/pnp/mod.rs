//! The PnP manager's core (pnp-power.md §1, §2.0, §2.1, §2.3, §2.4, §2.9, §3.1): a root bus
//! whose PDOs the harness creates, AddDevice, the start sequence, orderly and surprise removal,
//! and the status checks on the IRPs it sends.
//!
//! The root bus is the simulator's own driver (`\Driver\PnpManager`, as Wine names it): its
//! PDOs complete every PnP IRP the way a PDO must (§3.2): the ones a PDO handles with
//! STATUS_SUCCESS, the others with IoStatus untouched. Every PnP IRP goes to the top of the
//! stack, is built with Status = STATUS_NOT_SUPPORTED and Information = 0 (§2.0), and is sent at
//! PASSIVE_LEVEL from the harness's thread (standing in for the PnP system thread); on
//! STATUS_PENDING the manager waits for completion.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use wdm_sys::ntddk::IoGetCurrentIrpStackLocation;
use wdm_sys::{
    _DEVICE_CAPABILITIES, DO_DEVICE_INITIALIZING, FILE_DEVICE_SECURE_OPEN, FILE_DEVICE_UNKNOWN, IRP_MJ_PNP,
    IRP_MN_CANCEL_REMOVE_DEVICE, IRP_MN_CANCEL_STOP_DEVICE, IRP_MN_QUERY_CAPABILITIES, IRP_MN_QUERY_REMOVE_DEVICE,
    IRP_MN_QUERY_STOP_DEVICE, IRP_MN_REMOVE_DEVICE, IRP_MN_START_DEVICE, IRP_MN_STOP_DEVICE, IRP_MN_SURPRISE_REMOVAL,
    NT_SUCCESS, NTSTATUS, PDEVICE_OBJECT, PDRIVER_OBJECT, PIRP, STATUS_NOT_SUPPORTED, STATUS_PENDING, STATUS_SUCCESS,
};

use crate::irp::{Completion, Origin, Waiter};
use crate::kernel::{State, lock};
use crate::report::Rule;

pub(crate) mod actions;
pub(crate) mod interface;
mod node;
pub(crate) mod wmi;
pub use node::DeviceNode;
pub(crate) use node::open_path;

/// The minor code Driver Verifier's I/O verification sends to check that a stack passes an
/// IRP it does not know down untouched (any code no PnP IRP uses).
pub(crate) const UNKNOWN_MINOR: u8 = 0xFF;

/// How long the manager waits for a PnP IRP that pends.
const HANG: Duration = Duration::from_secs(10);

/// Where a devnode is in its life (§2.9, ROS names reduced to what is modelled).
///
/// Creates (a [`crate::Kernel::open`] of an interface or of the PDO's name, or
/// [`crate::Kernel::open_device`]) reach the stack only in `Started`, `QueryStopped` and
/// `Stopped` (during a rebalance the driver holds or fails them itself, §4). In every other
/// state the manager fails them with STATUS_NO_SUCH_DEVICE without sending IRP_MJ_CREATE: before
/// START has completed on the whole stack (`Initialized`, `DriversAdded`, `StartPending`: the
/// DDI's "the PnP manager fails create requests for the device before IRP_MN_START_DEVICE
/// completes"), and once a removal has begun (`QueryRemoved`, `SurpriseRemoved`, `Deleted`), as
/// the I/O manager's IopCheckDeviceAndDriver does for a device with a remove pending
/// (decision, ⚠ §4: the DDI names no status; NO_SUCH_DEVICE is the one ReactOS returns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeState {
    /// The PDO only: no driver added yet (or the last one was removed).
    Initialized,
    /// AddDevice has run for at least one driver.
    DriversAdded,
    /// IRP_MN_START_DEVICE is on its way through the stack (first start or restart).
    StartPending,
    /// START succeeded.
    Started,
    /// QUERY_STOP succeeded; STOP or CANCEL_STOP comes next.
    QueryStopped,
    /// STOP succeeded: the device holds its I/O until START (a restart).
    Stopped,
    /// QUERY_REMOVE succeeded; REMOVE or CANCEL_REMOVE comes next.
    QueryRemoved,
    /// SURPRISE_REMOVAL sent; REMOVE waits for the last handle to close.
    SurpriseRemoved,
    /// REMOVE sent after a surprise removal: the PDO is deleted, the device is gone.
    Deleted,
}

/// One devnode.
pub(crate) struct Node {
    pub pdo: usize,
    pub hardware_id: String,
    pub state: NodeState,
    /// Files open on the stack through the harness.
    pub open: usize,
    /// What reached the PDO: (minor, IoStatus.Status and Information on arrival).
    pub arrivals: Vec<(u8, NTSTATUS, usize)>,
    /// The PnP IRPs sent, with the status each completed with.
    pub sent: Vec<(u8, NTSTATUS)>,
    /// The last QUERY_PNP_DEVICE_STATE answer (None: not asked yet, or the IRP failed).
    pub device_state: Option<usize>,
    /// What reached the PDO of IRP_MJ_SYSTEM_CONTROL: (minor, IoStatus.Status, Information).
    pub wmi_arrivals: Vec<(u8, NTSTATUS, usize)>,
    /// The state CANCEL_REMOVE goes back to.
    pub before_query_remove: NodeState,
    /// `ROOT\<ID>\<NNNN>` (see [`interface`]).
    pub instance_path: String,
}

/// The PnP manager's state.
#[derive(Default)]
pub(crate) struct Pnp {
    /// The root bus driver (`\Driver\PnpManager`), made with the first root device.
    pub root: usize,
    pub nodes: Vec<Node>,
    pub(crate) by_pdo: HashMap<usize, usize>,
    /// Queued IoInvalidateDeviceState / IoInvalidateDeviceRelations actions, oldest first.
    pub(crate) actions: std::collections::VecDeque<(usize, actions::Action)>,
    /// WMI providers: device object → its driver object (IoWMIRegistrationControl).
    pub(crate) wmi: HashMap<usize, usize>,
    /// Registered device interfaces, in registration order.
    pub(crate) interfaces: Vec<interface::Interface>,
    /// The last autogenerated device name's number (`\Device\00000001` is the first).
    names: u32,
}

thread_local! {
    /// This thread is sending IRP_MN_REMOVE_DEVICE (for IoReleaseRemoveLockAndWait's check).
    static IN_REMOVE: Cell<bool> = const { Cell::new(false) };
}

/// IoReleaseRemoveLockAndWait outside REMOVE (SDV IoReleaseRemoveLockAndWaitOutsideRemoveDevice),
/// for a lock in the extension of a device on a PnP stack (a lock elsewhere is not checked).
pub(crate) fn note_release_and_wait(k: &State, lock_address: usize) {
    if IN_REMOVE.with(Cell::get) {
        return;
    }
    let nodes = lock(&k.pnp).nodes.len();
    let on_stack = (0..nodes).flat_map(|i| stack_above(k, i)).any(|d| {
        lock(&k.objects)
            .device_extent(d)
            .is_some_and(|(start, end)| (start..end).contains(&lock_address))
    });
    if on_stack {
        k.report(
            Rule::ReleaseAndWaitOutsideRemove,
            "IoReleaseRemoveLockAndWaitEx",
            None,
            [0; 4],
            "IoReleaseRemoveLockAndWait called while not handling IRP_MN_REMOVE_DEVICE".into(),
        );
    }
}

/// The root bus's dispatch for IRP_MJ_PNP: what a PDO does (§3.2).
///
/// # Safety
/// Called by IofCallDriver with one of the root bus's PDOs and a live PnP IRP.
pub(crate) unsafe extern "C-unwind" fn root_pnp(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    let k = crate::kernel::current();
    // SAFETY: the IRP is live and at this PDO's location.
    let stack = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: as above.
    let minor = unsafe { (*stack).MinorFunction };
    let Completion { status, information } = Completion::of(irp);
    {
        let mut pnp = lock(&k.pnp);
        if let Some(&i) = pnp.by_pdo.get(&(device as usize)) {
            pnp.nodes[i].arrivals.push((minor, status, information));
        }
    }
    let handled = matches!(
        u32::from(minor),
        IRP_MN_START_DEVICE
            | IRP_MN_QUERY_REMOVE_DEVICE
            | IRP_MN_REMOVE_DEVICE
            | IRP_MN_CANCEL_REMOVE_DEVICE
            | IRP_MN_STOP_DEVICE
            | IRP_MN_QUERY_STOP_DEVICE
            | IRP_MN_CANCEL_STOP_DEVICE
            | IRP_MN_SURPRISE_REMOVAL
            | IRP_MN_QUERY_CAPABILITIES
    );
    let status = if handled {
        // SAFETY: the IRP is this PDO's to complete.
        unsafe { crate::irp::set_io_status(irp, STATUS_SUCCESS, information) };
        STATUS_SUCCESS
    } else {
        status
    };
    // SAFETY: completing the IRP this PDO owns, once, IoStatus as set above.
    unsafe { crate::irp::IofCompleteRequest(irp, 0) };
    status
}

impl Pnp {
    fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }
}

/// Creates a root-enumerated PDO (and, the first time, the root bus driver).
pub(crate) fn add_root_device(kernel: &crate::Kernel, hardware_id: &str) -> usize {
    let k = &kernel.state;
    let root = {
        let pnp = lock(&k.pnp);
        pnp.root
    };
    let root = if root == 0 {
        let object = kernel.create_driver_object("PnpManager", crate::harness::no_entry);
        // SAFETY: the fresh root driver object; nothing else uses it yet.
        unsafe { (*object).MajorFunction[IRP_MJ_PNP as usize] = Some(root_pnp) };
        // SAFETY: as above.
        unsafe { (*object).MajorFunction[wdm_sys::IRP_MJ_POWER as usize] = Some(crate::po::root_power) };
        // SAFETY: as above.
        unsafe { (*object).MajorFunction[wdm_sys::IRP_MJ_SYSTEM_CONTROL as usize] = Some(wmi::root_system_control) };
        lock(&k.pnp).root = object as usize;
        object as usize
    } else {
        root
    };
    // Named as IoCreateDevice names a device created with FILE_AUTOGENERATED_DEVICE_NAME, as
    // the root enumerator's PDOs are: `\Device\` and a number in 8 hex digits, counted per machine.
    let name = {
        let mut pnp = lock(&k.pnp);
        pnp.names += 1;
        crate::object::OwnedUnicode::new(&format!("\\Device\\{:08x}", pnp.names))
    };
    let pdo = kernel.run(|| {
        let mut pdo: PDEVICE_OBJECT = std::ptr::null_mut();
        let mut name = name.string;
        // SAFETY: the root driver object, an unnamed device, a writable out-pointer.
        let status = crate::kernel::as_driver(root, || unsafe {
            crate::object::IoCreateDevice(
                root as PDRIVER_OBJECT,
                0,
                &mut name,
                FILE_DEVICE_UNKNOWN,
                FILE_DEVICE_SECURE_OPEN,
                0,
                &mut pdo,
            )
        });
        assert!(NT_SUCCESS(status), "creating a root PDO failed: {status:#x}");
        // SAFETY: the fresh PDO: the bus clears DO_DEVICE_INITIALIZING before reporting it.
        unsafe { (*pdo).Flags &= !DO_DEVICE_INITIALIZING };
        pdo as usize
    });
    let mut pnp = lock(&k.pnp);
    let i = pnp.nodes.len();
    let id = interface::root_id(hardware_id);
    let instance = pnp
        .nodes
        .iter()
        .filter(|n| interface::root_id(&n.hardware_id) == id)
        .count();
    pnp.nodes.push(Node {
        before_query_remove: NodeState::Initialized,
        wmi_arrivals: Vec::new(),
        device_state: None,
        instance_path: format!("ROOT\\{id}\\{instance:04}"),
        pdo,
        hardware_id: hardware_id.to_owned(),
        state: NodeState::Initialized,
        open: 0,
        arrivals: Vec::new(),
        sent: Vec::new(),
    });
    pnp.by_pdo.insert(pdo, i);
    i
}

/// The devices stacked above node `i`'s PDO, bottom up (none once the PDO is deleted).
pub(crate) fn stack_above(k: &State, i: usize) -> Vec<usize> {
    let (pdo, state) = {
        let pnp = lock(&k.pnp);
        (pnp.node(i).pdo, pnp.node(i).state)
    };
    if state == NodeState::Deleted {
        // The PDO is gone (and the stack with it).
        return Vec::new();
    }
    let _objects = lock(&k.objects);
    let mut v = Vec::new();
    let mut d = pdo as PDEVICE_OBJECT;
    loop {
        // SAFETY: the PDO is live until Deleted, attached devices while attached (under the
        // objects lock).
        let above = unsafe { (*d).AttachedDevice };
        if above.is_null() {
            return v;
        }
        v.push(above as usize);
        d = above;
    }
}

/// Sends one PnP IRP to the top of node `i`'s stack and returns how it completed, after the
/// status checks of §2.9. Runs on the calling (harness) thread at PASSIVE_LEVEL.
pub(crate) fn send(kernel: &crate::Kernel, i: usize, minor: u8, setup: impl FnOnce(PIRP)) -> Completion {
    let k = &kernel.state;
    let arrivals_before = lock(&k.pnp).node(i).arrivals.len();
    let (completion, _) = send_irp(kernel, i, IRP_MJ_PNP as u8, minor, setup);
    let arrived = lock(&k.pnp).node(i).arrivals[arrivals_before..].to_vec();
    lock(&k.pnp).nodes[i].sent.push((minor, completion.status));
    let stacked = !stack_above(k, i).is_empty();
    check_status(kernel, minor, completion, &arrived, stacked);
    completion
}

/// Sends an IRP the manager builds (`major`/`minor`, IoStatus NOT_SUPPORTED / 0, then `setup`)
/// to the top of node `i`'s stack, waits for it, and returns how it completed and the device
/// that completed it (the last to call IoCompleteRequest).
pub(crate) fn send_irp(
    kernel: &crate::Kernel,
    i: usize,
    major: u8,
    minor: u8,
    setup: impl FnOnce(PIRP),
) -> (Completion, usize) {
    let k = &kernel.state;
    let pdo = lock(&k.pnp).node(i).pdo as PDEVICE_OBJECT;
    kernel.run(|| {
        // SAFETY: the PDO is live (the node is not Deleted).
        let top = unsafe { crate::request::top_of_stack(pdo) };
        // SAFETY: as above.
        let stack_size = unsafe { (*top).StackSize };
        let waiter = Arc::new(Waiter::default());
        let completers = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&completers);
        let finisher: crate::irp::Finisher = Box::new(move |irp, _| {
            seen.store(crate::irp::completed_by(irp), std::sync::atomic::Ordering::Release);
        });
        let irp = crate::irp::allocate(k, stack_size, Origin::Request(Arc::clone(&waiter), Some(finisher)));
        // SAFETY: a fresh IRP with its first location free.
        let next = unsafe { crate::irp::next_location(irp) };
        next.MajorFunction = major;
        next.MinorFunction = minor;
        // SAFETY: the fresh IRP is the manager's.
        unsafe { crate::irp::set_io_status(irp, STATUS_NOT_SUPPORTED, 0) };
        setup(irp);
        let in_remove = major == IRP_MJ_PNP as u8 && minor == IRP_MN_REMOVE_DEVICE as u8;
        let was = IN_REMOVE.with(|r| r.replace(in_remove));
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                IN_REMOVE.with(|r| r.set(self.0));
            }
        }
        let _restore = Restore(was);
        // SAFETY: a fresh IRP with its next location set up for `top`.
        let returned = unsafe { crate::irp::IofCallDriver(top, irp) };
        let done = if returned == STATUS_PENDING {
            waiter.wait(HANG)
        } else {
            waiter.get().or_else(|| waiter.wait(HANG))
        };
        let done =
            done.unwrap_or_else(|| panic!("IRP major {major:#x} minor {minor:#x} did not complete within {HANG:?}"));
        (done, completers.load(std::sync::atomic::Ordering::Acquire))
    })
}

/// The §2.9 status rules on a PnP IRP the manager sent, once it has completed.
fn check_status(kernel: &crate::Kernel, minor: u8, c: Completion, arrived: &[(u8, NTSTATUS, usize)], stacked: bool) {
    let k = &kernel.state;
    let _bound = crate::kernel::Bound::new(k);
    let report = |rule: Rule, code: usize, message: String| {
        k.report(
            rule,
            "PnP manager",
            None,
            [code, minor as usize, c.status as u32 as usize, 0],
            message,
        );
    };
    if minor == UNKNOWN_MINOR {
        match arrived.iter().find(|a| a.0 == minor) {
            None => report(
                Rule::PnpUnknownIrpCompleted,
                0x22D,
                "a driver completed a PnP IRP of an unknown minor code instead of passing it down".into(),
            ),
            Some(&(_, status, information)) if status != STATUS_NOT_SUPPORTED || information != 0 => report(
                Rule::PnpUnknownIrpStatusChanged,
                0x213,
                format!(
                    "a PnP IRP of an unknown minor code reached the PDO with IoStatus changed to {:#x} / {information} (a driver that does not handle an IRP leaves IoStatus alone)",
                    status as u32
                ),
            ),
            Some(_) => {}
        }
        return;
    }
    let removal = matches!(
        u32::from(minor),
        IRP_MN_QUERY_REMOVE_DEVICE | IRP_MN_REMOVE_DEVICE | IRP_MN_SURPRISE_REMOVAL
    );
    if removal && stacked {
        let at_pdo = arrived.iter().find(|a| a.0 == minor);
        let untouched = at_pdo.is_some_and(|a| a.1 == STATUS_NOT_SUPPORTED);
        if untouched || (at_pdo.is_none() && c.status == STATUS_NOT_SUPPORTED) {
            report(
                Rule::PnpRemovalNotSupported,
                0x22F,
                format!(
                    "PnP minor {minor:#x} {} STATUS_NOT_SUPPORTED above the PDO: a function or filter driver sets STATUS_SUCCESS before passing it down",
                    if untouched {
                        "was passed down with"
                    } else {
                        "was failed with"
                    }
                ),
            );
        }
    }
    if NT_SUCCESS(c.status) {
        return;
    }
    match u32::from(minor) {
        IRP_MN_REMOVE_DEVICE => report(
            Rule::PnpRemoveFailed,
            0x306,
            format!(
                "IRP_MN_REMOVE_DEVICE failed with {:#x}: REMOVE must succeed",
                c.status as u32
            ),
        ),
        IRP_MN_SURPRISE_REMOVAL | IRP_MN_CANCEL_REMOVE_DEVICE | IRP_MN_CANCEL_STOP_DEVICE | IRP_MN_STOP_DEVICE => {
            report(
                Rule::PnpMustSucceed,
                0x43006,
                format!(
                    "PnP minor {minor:#x} failed with {:#x}: it must succeed",
                    c.status as u32
                ),
            )
        }
        _ => {}
    }
}

/// After REMOVE: every device that was above the PDO must be detached and deleted (0xC9/0x21D,
/// 0x21E).
pub(crate) fn check_removed(kernel: &crate::Kernel, i: usize, stack: &[usize]) {
    let k = &kernel.state;
    let _bound = crate::kernel::Bound::new(k);
    let deleted = |d: usize| lock(&k.objects).devices.get(&d).is_none_or(|r| r.delete_pending);
    let still = stack_above(k, i);
    for &d in stack {
        if still.contains(&d) {
            k.report(
                Rule::PnpRemoveNotDetached,
                "IRP_MN_REMOVE_DEVICE",
                None,
                [0x21D, d, 0, 0],
                format!("device {d:#x} is still attached to the stack after REMOVE"),
            );
        }
        if !deleted(d) {
            k.report(
                Rule::PnpRemoveNotDeleted,
                "IRP_MN_REMOVE_DEVICE",
                None,
                [0x21E, d, 0, 0],
                format!("device {d:#x} was not deleted while handling REMOVE"),
            );
        }
    }
}

/// After SURPRISE_REMOVAL: nothing detached or deleted (0xC9/0x241, 0x242, SDV PnpSurpriseRemove).
pub(crate) fn check_surprise_removed(kernel: &crate::Kernel, i: usize, stack: &[usize]) {
    let k = &kernel.state;
    let _bound = crate::kernel::Bound::new(k);
    let still = stack_above(k, i);
    for &d in stack {
        if lock(&k.objects).devices.get(&d).is_none_or(|r| r.delete_pending) {
            k.report(
                Rule::PnpSurpriseRemoveDeleted,
                "IRP_MN_SURPRISE_REMOVAL",
                None,
                [0x242, d, 0, 0],
                format!("device {d:#x} was deleted while handling SURPRISE_REMOVAL"),
            );
        } else if !still.contains(&d) {
            k.report(
                Rule::PnpSurpriseRemoveDetached,
                "IRP_MN_SURPRISE_REMOVAL",
                None,
                [0x241, d, 0, 0],
                format!("device {d:#x} detached itself while handling SURPRISE_REMOVAL"),
            );
        }
    }
}

/// After AddDevice: the devices it put on the stack must have DO_DEVICE_INITIALIZING cleared
/// (0xC9/0x243).
pub(crate) fn check_added(kernel: &crate::Kernel, before: &[usize], after: &[usize]) {
    let k = &kernel.state;
    let _bound = crate::kernel::Bound::new(k);
    for &d in after.iter().filter(|d| !before.contains(d)) {
        // SAFETY: a device attached to a live stack.
        let flags = unsafe { (*(d as PDEVICE_OBJECT)).Flags };
        if flags & DO_DEVICE_INITIALIZING != 0 {
            k.report(
                Rule::PnpDeviceInitializing,
                "AddDevice",
                None,
                [0x243, d, 0, 0],
                format!("AddDevice returned with DO_DEVICE_INITIALIZING still set on {d:#x}"),
            );
        }
    }
}

/// The capabilities buffer the manager pre-fills (§2.1: zeroed, Size, Version 1, Address and
/// UINumber 0xFFFFFFFF).
pub(crate) fn capabilities() -> Box<_DEVICE_CAPABILITIES> {
    Box::new(_DEVICE_CAPABILITIES {
        Size: size_of::<_DEVICE_CAPABILITIES>() as u16,
        Version: 1,
        Address: 0xFFFF_FFFF,
        UINumber: 0xFFFF_FFFF,
        ..Default::default()
    })
}
