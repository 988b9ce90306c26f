//! The power manager (pnp-power.md §6): system sleep and resume as S-IRPs to every started
//! devnode, the D-IRPs a power policy owner requests with `PoRequestPowerIrp`,
//! `PoSetPowerState`, `PoCallDriver`, `PoStartNextPowerIrp`, what the root bus's PDOs do with
//! power IRPs, and the Driver Verifier and SDV checks on them.
//!
//! **What is sent.** Every power IRP the manager builds (its own S-IRPs, the D-IRPs and
//! WAIT_WAKE a driver requests) goes to the top of the stack of its devnode with
//! Status = STATUS_NOT_SUPPORTED and Information = 0 (§2.9), IRP_MJ_POWER in the first location,
//! `Parameters.Power.{Type, State, ShutdownType}` (WAIT_WAKE: `Parameters.WaitWake.PowerState`).
//! It is delivered at the sender's IRQL, on the sender's thread: the harness's at
//! PASSIVE_LEVEL for S-IRPs, the policy owner's (a completion routine, at most DISPATCH_LEVEL)
//! for D-IRPs. The §6.2 hand-off to a worker for DO_POWER_PAGABLE stacks and the DISPATCH_LEVEL
//! delivery of D0 to non-pageable stacks are not modelled.
//!
//! **Decisions on the spec's ⚠ points.**
//! - RequestedPowerIrp (§6.5): a non-NULL `Irp` out-pointer is reported (0xC4/0x4100B) for
//!   QUERY_POWER and SET_POWER only; WAIT_WAKE needs it to cancel the IRP, so it is allowed there.
//! - PoSetPowerState's previous state (§6.6): the manager knows D0 for a device that has never
//!   called it (a started device is working: START implies D0), so the first call returns
//!   PowerDeviceD0, and each later one the state recorded before it, as the DDI says (ReactOS
//!   always returns D0; Wine returns the argument). For the system type, PowerSystemWorking.
//! - Order (§6.7): going to sleep, leaves first; waking, parents first. Devnodes are kept in the
//!   order they were enumerated, and a child is always enumerated after its parent, so
//!   devnode order reversed is children first and devnode order is parents first (ReactOS goes
//!   root first both ways and ignores failures).
//! - A failed system QUERY_POWER aborts the sleep: SET_POWER(S0) goes to every devnode that was
//!   queried (parents first), as DOC says the manager may, and [`Kernel::sleep`] returns the
//!   query's status. A failed system SET_POWER cannot abort anything: it is reported, the
//!   other devnodes still get theirs, and the system is asleep.
//! - ShutdownType: the action of the sleep (PowerActionSleep for S1–S3, PowerActionHibernate for
//!   S4) on its QUERY and SET, and on the SET_POWER(S0) that ends it (so a driver can tell a
//!   resume from hibernation). A D-IRP carries the action of the S-IRP its devnode is handling,
//!   PowerActionNone outside one (idle, §6.7 ⚠).
//! - The 0x9F/0x3 watchdog (§6.6, DOC's example: 600 s) is 10 s by default, settable with
//!   [`Kernel::set_power_watchdog`]. It runs while the manager waits for an S-IRP: when it
//!   expires the machine bug-checks with p2 = the devnode's PDO and p4 = the newest power IRP
//!   still in flight on it (the D-IRP the S-IRP waits for, when there is one).
//!
//! **Checks** (on the IRPs the manager sent; a driver's own IoAllocateIrp power IRPs are not
//! watched): a driver other than the PDO completing a power IRP before the PDO has, with
//! success (0xC9/0x231, fatal), with STATUS_NOT_SUPPORTED (0xC9/0x232), or one of an unknown
//! minor code (0xC9/0x230; with I/O verification on, [`Kernel::sleep`] sends one first, as
//! PnP's start does); an FDO or filter failing a device SET_POWER (SDV PowerDownFail,
//! PowerUpFail); a failed system SET_POWER; the watchdog; IoDeleteDevice of a device a power
//! IRP is pending on (0x9F/0x1); PoCallDriver with another major function; PoSetPowerState out
//! of order with the device SET_POWER the caller is handling; pool allocated while an S0 -> Sx
//! SET_POWER is out (SDV PowerDownAllocate); and, under [`Kernel::wine_checks`], any call of
//! PoRequestPowerIrp (Wine 8 only stubs it).
//!
//! [`Kernel::sleep`]: crate::Kernel::sleep
//! [`Kernel::set_power_watchdog`]: crate::Kernel::set_power_watchdog
//! [`Kernel::wine_checks`]: crate::Kernel::wine_checks

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use wdm_sys::ntddk::IoGetCurrentIrpStackLocation;
use wdm_sys::{
    _DEVICE_POWER_STATE, _POWER_STATE_TYPE, _SYSTEM_POWER_STATE, DEVICE_POWER_STATE, DISPATCH_LEVEL, IO_STACK_LOCATION,
    IRP, IRP_MJ_POWER, IRP_MN_QUERY_POWER, IRP_MN_SET_POWER, IRP_MN_WAIT_WAKE, KIRQL, NT_SUCCESS, NTSTATUS,
    PDEVICE_OBJECT, PIRP, POWER_ACTION, POWER_STATE, POWER_STATE_TYPE, PREQUEST_POWER_COMPLETE, PVOID,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER_1, STATUS_INVALID_PARAMETER_2, STATUS_NOT_SUPPORTED,
    STATUS_PENDING, STATUS_SUCCESS, SYSTEM_POWER_STATE, UCHAR,
};

use crate::irp::{Completion, Origin, Waiter};
use crate::kernel::{Bound, State, as_driver, current, lock};
use crate::pnp::NodeState;
use crate::report::Rule;

/// The minor code of the power IRP Driver Verifier's I/O verification sends to check that a
/// stack passes an IRP it does not know down untouched (no power IRP uses it).
pub(crate) const UNKNOWN_MINOR: u8 = 0xFF;

/// The default 0x9F/0x3 watchdog.
const WATCHDOG: Duration = Duration::from_secs(10);

/// Whether a power IRP carries a system state or a device state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerType {
    /// An S-IRP (`SystemPowerState`): S0 = 1 … S5 = 6. WAIT_WAKE is one too (its state is the
    /// lowest system state to wake from).
    System,
    /// A D-IRP (`DevicePowerState`): D0 = 1 … D3 = 4.
    Device,
}

/// One power IRP a devnode's stack received from the power manager, in the order they were
/// sent ([`DeviceNode::power_log`](crate::DeviceNode::power_log)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerIrp {
    /// IRP_MN_SET_POWER, IRP_MN_QUERY_POWER, IRP_MN_WAIT_WAKE, or the verifier's unknown minor
    /// code (0xFF).
    pub minor: u8,
    /// System or device state.
    pub kind: PowerType,
    /// The state (`SYSTEM_POWER_STATE` or `DEVICE_POWER_STATE`).
    pub state: u32,
    /// `Parameters.Power.ShutdownType` (a `POWER_ACTION`; 0 for WAIT_WAKE).
    pub shutdown_type: POWER_ACTION::Type,
    /// Requested by a driver with PoRequestPowerIrp (false: the manager's own S-IRP).
    pub requested: bool,
    /// The status it completed with; STATUS_PENDING while it is in flight.
    pub status: NTSTATUS,
    /// How many times PoStartNextPowerIrp was called for it (a no-op since Vista: recorded, never
    /// required).
    pub start_next_calls: u32,
}

/// What the manager keeps about a power IRP it sent, until it leaves the top of its stack.
struct InFlight {
    /// Its devnode, and its entry in the devnode's log.
    node: Option<(usize, usize)>,
    /// The devnode's PDO (0: not sent to a devnode's stack, nothing checked).
    pdo: usize,
    /// The PDO has completed it (a driver above may then reclaim it and complete it again).
    pdo_completed: bool,
    minor: u8,
    kind: PowerType,
    state: u32,
}

/// The power manager's state.
#[derive(Default)]
pub(crate) struct Power {
    logs: HashMap<usize, Vec<PowerIrp>>,
    inflight: HashMap<usize, InFlight>,
    /// PoSetPowerState's record, by device object.
    device_states: HashMap<usize, DEVICE_POWER_STATE>,
    system_states: HashMap<usize, SYSTEM_POWER_STATE>,
    /// The action of the S-IRP the manager has out on a devnode, while it has one.
    action: HashMap<usize, POWER_ACTION::Type>,
    /// Asleep: the state and its action.
    asleep: Option<(SYSTEM_POWER_STATE, POWER_ACTION::Type)>,
    watchdog: Option<Duration>,
}

/// The parameters of a power IRP to build.
#[derive(Clone, Copy)]
struct Params {
    minor: u8,
    kind: PowerType,
    state: u32,
    action: POWER_ACTION::Type,
    /// Requested by a driver (PoRequestPowerIrp).
    requested: bool,
}

/// What runs once a power IRP has left the top of its stack (after every completion routine).
type Then = Box<dyn FnOnce(PIRP) + Send>;

/// The devnode whose stack holds `device` (its PDO or a device above it).
fn node_of(k: &State, device: usize) -> Option<usize> {
    let nodes: Vec<(usize, NodeState)> = lock(&k.pnp).nodes.iter().map(|n| (n.pdo, n.state)).collect();
    nodes.iter().enumerate().find_map(|(i, &(pdo, state))| {
        (state != NodeState::Deleted && (pdo == device || crate::pnp::stack_above(k, i).contains(&device))).then_some(i)
    })
}

/// Builds a power IRP and sends it to the top of the stack `target` is in, as PoCallDriver
/// would. `setup` runs just before the IRP is sent, `then` once it has left the top of its
/// stack. Returns the IRP and what IoCallDriver returned.
///
/// # Safety
/// `target` must be a live device; the caller is bound to `k`.
unsafe fn send(
    k: &State,
    target: PDEVICE_OBJECT,
    node: Option<usize>,
    p: Params,
    waiter: Arc<Waiter>,
    setup: impl FnOnce(PIRP),
    then: Option<Then>,
) -> (PIRP, NTSTATUS) {
    // SAFETY: the caller's live device; attached devices are live while attached.
    let top = unsafe { crate::request::top_of_stack(target) };
    // SAFETY: as above.
    let stack_size = unsafe { (*top).StackSize };
    let finisher: crate::irp::Finisher = Box::new(move |irp, c| {
        finished(current(), irp, c);
        if let Some(then) = then {
            then(irp);
        }
    });
    let irp = crate::irp::allocate(k, stack_size, Origin::Request(waiter, Some(finisher)));
    // SAFETY: a fresh IRP with its first location free.
    let next = unsafe { crate::irp::next_location(irp) };
    next.MajorFunction = IRP_MJ_POWER as u8;
    next.MinorFunction = p.minor;
    if u32::from(p.minor) == IRP_MN_WAIT_WAKE {
        next.Parameters.WaitWake.PowerState = p.state;
    } else {
        next.Parameters.Power.Type = match p.kind {
            PowerType::System => _POWER_STATE_TYPE::SystemPowerState,
            PowerType::Device => _POWER_STATE_TYPE::DevicePowerState,
        };
        next.Parameters.Power.State = POWER_STATE { SystemState: p.state };
        next.Parameters.Power.ShutdownType = p.action;
    }
    // SAFETY: the fresh IRP is the manager's.
    unsafe { crate::irp::set_io_status(irp, STATUS_NOT_SUPPORTED, 0) };
    let pdo = node.map_or(0, |i| lock(&k.pnp).nodes[i].pdo);
    {
        let mut power = lock(&k.power);
        let at = node.map(|i| {
            let log = power.logs.entry(i).or_default();
            log.push(PowerIrp {
                minor: p.minor,
                kind: p.kind,
                state: p.state,
                shutdown_type: if u32::from(p.minor) == IRP_MN_WAIT_WAKE {
                    0
                } else {
                    p.action
                },
                requested: p.requested,
                status: STATUS_PENDING,
                start_next_calls: 0,
            });
            (i, log.len() - 1)
        });
        power.inflight.insert(
            irp as usize,
            InFlight {
                node: at,
                pdo,
                pdo_completed: false,
                minor: p.minor,
                kind: p.kind,
                state: p.state,
            },
        );
    }
    setup(irp);
    // SAFETY: a fresh IRP with its next location set up for `top`.
    let returned = unsafe { crate::irp::IofCallDriver(top, irp) };
    (irp, returned)
}

/// A power IRP the manager sent has left the top of its stack: its status goes to the log.
fn finished(k: &State, irp: PIRP, c: Completion) {
    let mut power = lock(&k.power);
    if let Some(f) = power.inflight.remove(&(irp as usize))
        && let Some((node, at)) = f.node
        && let Some(entry) = power.logs.get_mut(&node).and_then(|l| l.get_mut(at))
    {
        entry.status = c.status;
    }
}

/// Called by IofCompleteRequest for an IRP_MJ_POWER IRP, with the device completing it (the one
/// at the current location) and the status it completes with: the §2.9/§3.1/§6.4 checks on a
/// power IRP the manager sent.
pub(crate) fn on_complete(k: &State, irp: PIRP, device: PDEVICE_OBJECT, status: NTSTATUS) {
    let (minor, kind, state) = {
        let mut power = lock(&k.power);
        let Some(f) = power.inflight.get_mut(&(irp as usize)) else {
            return;
        };
        if f.pdo == 0 || f.pdo_completed {
            return;
        }
        if device as usize == f.pdo {
            f.pdo_completed = true;
            return;
        }
        (f.minor, f.kind, f.state)
    };
    let report = |rule: Rule, code: usize, message: String| {
        k.report(
            rule,
            "IofCompleteRequest",
            Some(irp as usize),
            [code, device as usize, irp as usize, status as u32 as usize],
            message,
        );
    };
    let known = matches!(
        u32::from(minor),
        IRP_MN_WAIT_WAKE | IRP_MN_SET_POWER | IRP_MN_QUERY_POWER | wdm_sys::IRP_MN_POWER_SEQUENCE
    );
    if !known {
        report(
            Rule::PowerUnknownIrpCompleted,
            0x230,
            format!(
                "device {device:p} completed a power IRP of an unknown minor code ({minor:#x}) instead of passing it down"
            ),
        );
    } else if NT_SUCCESS(status) {
        report(
            Rule::PowerIrpCompletedAbovePdo,
            0x231,
            format!(
                "device {device:p}, not the PDO, completed power IRP minor {minor:#x} with {:#x}: only the PDO completes a successful power IRP",
                status as u32
            ),
        );
    } else if status == STATUS_NOT_SUPPORTED {
        report(
            Rule::PowerNotSupportedAbovePdo,
            0x232,
            format!(
                "device {device:p} failed power IRP minor {minor:#x} with STATUS_NOT_SUPPORTED, which only the OS may leave"
            ),
        );
    } else if u32::from(minor) == IRP_MN_SET_POWER && kind == PowerType::Device {
        let up = state == _DEVICE_POWER_STATE::PowerDeviceD0;
        k.report(
            if up { Rule::PowerUpFail } else { Rule::PowerDownFail },
            "IofCompleteRequest",
            Some(irp as usize),
            [0, device as usize, irp as usize, status as u32 as usize],
            format!(
                "device {device:p} failed IRP_MN_SET_POWER to D{} with {:#x}: a function or filter driver never fails a device set-power IRP",
                state.saturating_sub(1),
                status as u32
            ),
        );
    }
}

/// Called by IoDeleteDevice before it deletes `device`: a power IRP the manager sent that has
/// reached `device` and not been completed past it is 0x9F/0x1. The device's recorded power
/// state goes with it.
pub(crate) fn check_delete(k: &State, device: PDEVICE_OBJECT) {
    let pending = {
        let mut power = lock(&k.power);
        power.device_states.remove(&(device as usize));
        power.system_states.remove(&(device as usize));
        power
            .inflight
            .keys()
            .copied()
            .find(|&irp| pending_at(irp as PIRP, device))
    };
    if let Some(irp) = pending {
        k.report(
            Rule::DeleteWithPowerIrpPending,
            "IoDeleteDevice",
            Some(irp),
            [0x1, device as usize, irp, 0],
            format!("IoDeleteDevice({device:p}) with power IRP {irp:#x} still pending on the device"),
        );
    }
}

/// Whether `irp` has been dispatched to `device` and not yet completed past its location.
fn pending_at(irp: PIRP, device: PDEVICE_OBJECT) -> bool {
    // SAFETY: an IRP in flight (live until its finisher removes it from `inflight`, under the
    // lock the caller holds); fields read by raw place.
    let count = unsafe { (*irp).StackCount };
    // SAFETY: as above.
    let current = unsafe { (*irp).CurrentLocation };
    let stack = irp
        .cast::<u8>()
        .wrapping_add(size_of::<IRP>())
        .cast::<IO_STACK_LOCATION>();
    (1..=count).any(|location| {
        // SAFETY: location `location` is inside the IRP's stack.
        let at = unsafe { (*stack.wrapping_add(location as usize - 1)).DeviceObject };
        at == device && current <= location
    })
}

/// The root bus's dispatch for IRP_MJ_POWER: what a PDO does (§3.2, §6.6). SET_POWER and
/// QUERY_POWER succeed (a device SET_POWER calls PoSetPowerState for the PDO first: it "cuts
/// power" or powers up); every other minor, WAIT_WAKE included (a root PDO cannot wake), is
/// completed with IoStatus untouched. It completes every power IRP, after PoStartNextPowerIrp.
///
/// # Safety
/// Called by IofCallDriver with one of the root bus's PDOs and a live power IRP.
pub(crate) unsafe extern "C-unwind" fn root_power(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the IRP is live and at this PDO's location.
    let stack = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: as above.
    let minor = u32::from(unsafe { (*stack).MinorFunction });
    let Completion { status, information } = Completion::of(irp);
    let status = match minor {
        IRP_MN_SET_POWER | IRP_MN_QUERY_POWER => {
            // SAFETY: as above: a QUERY/SET location has Parameters.Power (a plain-data copy).
            let parameters = unsafe { (*stack).Parameters };
            // SAFETY: as above.
            let power = unsafe { parameters.Power };
            if minor == IRP_MN_SET_POWER && power.Type == _POWER_STATE_TYPE::DevicePowerState {
                // SAFETY: the PDO records its own new state.
                unsafe { PoSetPowerState(device, power.Type, power.State) };
            }
            // SAFETY: the IRP is this PDO's to complete.
            unsafe { crate::irp::set_io_status(irp, STATUS_SUCCESS, information) };
            STATUS_SUCCESS
        }
        _ => status,
    };
    // SAFETY: the live IRP, its location current.
    unsafe { PoStartNextPowerIrp(irp) };
    // SAFETY: completing the IRP this PDO owns, once.
    unsafe { crate::irp::IofCompleteRequest(irp, 0) };
    status
}

fn check_irql(k: &State, routine: &'static str) {
    let now = crate::irql::get();
    if now > DISPATCH_LEVEL as KIRQL {
        k.report(
            Rule::IrqlTooHigh,
            routine,
            None,
            [0x20011, usize::from(now), 0, 0],
            format!("{routine} at IRQL {now} (at most DISPATCH_LEVEL)"),
        );
    }
}

/// `PoRequestPowerIrp`: builds a power IRP (Status = STATUS_NOT_SUPPORTED), sends it to the top
/// of the stack `DeviceObject` is in and returns STATUS_PENDING; once the IRP has left the top
/// of the stack (after every completion routine) `CompletionFunction(DeviceObject, minor,
/// state, Context, &IoStatus)` runs, as code of DeviceObject's driver, and the manager frees
/// the IRP. QUERY_POWER and SET_POWER take a device state, WAIT_WAKE a system state; any other
/// minor is STATUS_INVALID_PARAMETER_2, and nothing is sent. `Irp` receives the IRP (before it
/// is sent) when not NULL; for QUERY/SET that is RequestedPowerIrp (0xC4/0x4100B). The IRP
/// counts as a pool allocation for [`Kernel::fail_allocation`](crate::Kernel::fail_allocation):
/// then the result is STATUS_INSUFFICIENT_RESOURCES and nothing is sent.
///
/// # Safety
/// Kernel routine: `DeviceObject` must be a live device; `Irp` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn PoRequestPowerIrp(
    device_object: PDEVICE_OBJECT,
    minor_function: UCHAR,
    power_state: POWER_STATE,
    completion_function: PREQUEST_POWER_COMPLETE,
    context_in: PVOID,
    irp_out: *mut PIRP,
) -> NTSTATUS {
    let k = current();
    if k.wine_checks.load(std::sync::atomic::Ordering::Relaxed) {
        k.report(
            Rule::WineStubCalled,
            "PoRequestPowerIrp",
            None,
            [device_object as usize, usize::from(minor_function), 0, 0],
            "Wine 8's PoRequestPowerIrp is an unimplemented stub that kills winedevice.exe: \
             never call it where Wine can reach it"
                .into(),
        );
    }
    check_irql(k, "PoRequestPowerIrp");
    let minor = minor_function;
    let kind = match u32::from(minor) {
        IRP_MN_QUERY_POWER | IRP_MN_SET_POWER => PowerType::Device,
        IRP_MN_WAIT_WAKE => PowerType::System,
        _ => return STATUS_INVALID_PARAMETER_2,
    };
    let live = lock(&k.objects)
        .devices
        .get(&(device_object as usize))
        .is_some_and(|d| !d.delete_pending);
    if !live {
        k.report(
            Rule::InvalidParameter,
            "PoRequestPowerIrp",
            None,
            [device_object as usize, 0, 0, 0],
            format!("PoRequestPowerIrp for {device_object:p}, which is not a device object (or was deleted)"),
        );
        return STATUS_INVALID_PARAMETER_1;
    }
    if kind == PowerType::Device && !irp_out.is_null() {
        k.report(
            Rule::RequestedPowerIrp,
            "PoRequestPowerIrp",
            None,
            [0x4100B, device_object as usize, irp_out as usize, 0],
            format!(
                "PoRequestPowerIrp(minor {minor:#x}) with a non-NULL Irp pointer: it is for WAIT_WAKE only (SDV RequestedPowerIrp)"
            ),
        );
    }
    // The IRP comes from the pool: the low-resources simulation can fail it.
    if crate::pool::low_resources_fails(k) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    // SAFETY: reading the union member the minor says it holds (both are a u32).
    let state = unsafe { power_state.SystemState };
    let node = node_of(k, device_object as usize);
    let action = node
        .and_then(|i| lock(&k.power).action.get(&i).copied())
        .unwrap_or(POWER_ACTION::PowerActionNone);
    let device = device_object as usize;
    // SAFETY: the caller's live device.
    let driver = unsafe { (*device_object).DriverObject } as usize;
    let context = context_in as usize;
    let then: Then = Box::new(move |irp| {
        let Some(callback) = completion_function else {
            return;
        };
        let k = current();
        // SAFETY: the IRP is still live (its finisher is running).
        let io_status = unsafe { &raw mut (*irp).IoStatus };
        let entry = crate::irql::get();
        // SAFETY: the driver's callback with the arguments it asked for.
        as_driver(driver, || unsafe {
            callback(
                device as PDEVICE_OBJECT,
                minor,
                POWER_STATE { SystemState: state },
                context as PVOID,
                io_status,
            );
        });
        crate::irp::check_return_irql(k, "power completion callback", entry, Some(irp));
    });
    let params = Params {
        minor,
        kind,
        state,
        action,
        requested: true,
    };
    let setup = |irp: PIRP| {
        if !irp_out.is_null() {
            // SAFETY: the caller's writable out-pointer.
            unsafe { irp_out.write(irp) };
        }
    };
    // SAFETY: the caller's live device.
    unsafe {
        send(
            k,
            device_object,
            node,
            params,
            Arc::new(Waiter::default()),
            setup,
            Some(then),
        )
    };
    STATUS_PENDING
}

/// `PoSetPowerState`: records the device's (or, for the system type, its system) power state
/// and returns the previous one: PowerDeviceD0 (PowerSystemWorking) before the first call (see
/// the module docs).
///
/// # Safety
/// Kernel routine: `device_object` must be a live device.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn PoSetPowerState(
    device_object: PDEVICE_OBJECT,
    kind: POWER_STATE_TYPE,
    state_in: POWER_STATE,
) -> POWER_STATE {
    let k = current();
    check_irql(k, "PoSetPowerState");
    // SAFETY: both union members are a u32.
    let new = unsafe { state_in.DeviceState };
    let mut power = lock(&k.power);
    let device = device_object as usize;
    if kind == _POWER_STATE_TYPE::DevicePowerState {
        let previous = power
            .device_states
            .insert(device, new)
            .unwrap_or(_DEVICE_POWER_STATE::PowerDeviceD0);
        // The device SET_POWER to this state that the device is handling now, if any, and
        // whether the PDO has done it already.
        let handling = power.inflight.iter().find_map(|(&irp, f)| {
            (f.kind == PowerType::Device
                && u32::from(f.minor) == IRP_MN_SET_POWER
                && f.pdo != 0
                && f.pdo != device
                && f.state == new
                && pending_at(irp as PIRP, device_object))
            .then_some((irp, f.pdo_completed))
        });
        drop(power);
        let up = new == _DEVICE_POWER_STATE::PowerDeviceD0;
        if let Some((irp, done)) = handling
            && done != up
        {
            k.report(
                Rule::PoSetPowerStateOutOfOrder,
                "PoSetPowerState",
                Some(irp),
                [device, new as usize, irp, 0],
                if up {
                    format!(
                        "{device_object:p} called PoSetPowerState(D0) before the lower drivers completed the power-up IRP: call it in the completion routine, once the device is powered"
                    )
                } else {
                    format!(
                        "{device_object:p} called PoSetPowerState(D{}) after the lower drivers completed the power-down IRP: call it before passing the IRP down",
                        new.saturating_sub(1)
                    )
                },
            );
        }
        POWER_STATE { DeviceState: previous }
    } else {
        let previous = power
            .system_states
            .insert(device, new)
            .unwrap_or(_SYSTEM_POWER_STATE::PowerSystemWorking);
        POWER_STATE { SystemState: previous }
    }
}

/// `PoCallDriver`: IofCallDriver (Vista and later: the two are equivalent, §6.3), after checking
/// that the next location is IRP_MJ_POWER.
///
/// # Safety
/// Kernel routine: as IofCallDriver.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn PoCallDriver(device_object: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    let k = current();
    // SAFETY: the caller's live IRP; the next location exists when CurrentLocation > 1
    // (IofCallDriver reports the rest).
    if crate::irp::sim(irp).is_some() && unsafe { (*irp).CurrentLocation } > 1 {
        // SAFETY: as above.
        let next = unsafe { wdm_sys::ntddk::IoGetNextIrpStackLocation(irp) };
        // SAFETY: as above.
        let major = unsafe { (*next).MajorFunction };
        if u32::from(major) != IRP_MJ_POWER {
            k.report(
                Rule::PoCallDriverNotPower,
                "PoCallDriver",
                Some(irp as usize),
                [irp as usize, usize::from(major), 0, 0],
                format!("PoCallDriver with an IRP of major function {major:#x}, not IRP_MJ_POWER"),
            );
        }
    }
    // SAFETY: the caller's contract.
    unsafe { crate::irp::IofCallDriver(device_object, irp) }
}

/// `PoStartNextPowerIrp`: a no-op since Vista; recorded in the power log.
///
/// # Safety
/// Kernel routine: `irp` must be a power IRP.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn PoStartNextPowerIrp(irp: PIRP) {
    let k = current();
    let mut power = lock(&k.power);
    let Some((node, at)) = power.inflight.get(&(irp as usize)).and_then(|f| f.node) else {
        return;
    };
    if let Some(entry) = power.logs.get_mut(&node).and_then(|l| l.get_mut(at)) {
        entry.start_next_calls += 1;
    }
}

/// Called by the pool on every allocation a driver makes: SDV PowerDownAllocate while the
/// system goes to sleep.
pub(crate) fn note_allocation(k: &State, size: usize, tag: u32) {
    if !k.powering_down.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let tag_text = String::from_utf8_lossy(&tag.to_le_bytes()).into_owned();
    k.report(
        Rule::PowerDownAllocate,
        "ExAllocatePoolWithTag",
        None,
        [size, tag as usize, 0, 0],
        format!("{size} bytes of pool (tag '{tag_text}') allocated while the system goes to sleep"),
    );
}

/// Sends one S-IRP (or the unknown-minor probe) to node `i`'s stack and waits for it, under the
/// watchdog. Returns its status.
fn system_irp(
    kernel: &crate::Kernel,
    i: usize,
    minor: u8,
    state: SYSTEM_POWER_STATE,
    action: POWER_ACTION::Type,
) -> NTSTATUS {
    let k = &kernel.state;
    let pdo = lock(&k.pnp).nodes[i].pdo;
    let watchdog = {
        let mut power = lock(&k.power);
        power.action.insert(i, action);
        power.watchdog.unwrap_or(WATCHDOG)
    };
    let down = u32::from(minor) == IRP_MN_SET_POWER && state != _SYSTEM_POWER_STATE::PowerSystemWorking;
    k.powering_down.store(down, std::sync::atomic::Ordering::Relaxed);
    let params = Params {
        minor,
        kind: PowerType::System,
        state,
        action,
        requested: false,
    };
    let status = kernel.run(|| {
        let waiter = Arc::new(Waiter::default());
        // SAFETY: the PDO of a started devnode is live.
        let (irp, _) = unsafe {
            send(
                k,
                pdo as PDEVICE_OBJECT,
                Some(i),
                params,
                Arc::clone(&waiter),
                |_| {},
                None,
            )
        };
        match waiter.wait(watchdog) {
            Some(c) => c.status,
            None => {
                let stuck = {
                    let power = lock(&k.power);
                    power
                        .inflight
                        .iter()
                        .filter_map(|(&irp, f)| f.node.filter(|n| n.0 == i).map(|n| (n.1, irp)))
                        .max()
                        .map_or(irp as usize, |(_, irp)| irp)
                };
                k.report(
                    Rule::PowerIrpTimeout,
                    "power manager",
                    Some(stuck),
                    [0x3, pdo, 0, stuck],
                    format!(
                        "power IRP minor {minor:#x} (S{}) to devnode {i} did not complete within the {watchdog:?} watchdog; IRP {stuck:#x} is blocked",
                        state.saturating_sub(1)
                    ),
                );
                STATUS_PENDING
            }
        }
    });
    lock(&k.power).action.remove(&i);
    k.powering_down.store(false, std::sync::atomic::Ordering::Relaxed);
    status
}

/// The started devnodes, in enumeration order (parents before children).
fn started(k: &State) -> Vec<usize> {
    lock(&k.pnp)
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.state == NodeState::Started)
        .map(|(i, _)| i)
        .collect()
}

impl crate::Kernel {
    /// System sleep (§6.7): `state` is S1–S3 (PowerSystemSleeping1–3, ShutdownType
    /// PowerActionSleep) or S4 (PowerSystemHibernate, PowerActionHibernate). With I/O
    /// verification on, first Driver Verifier's power IRP of an unknown minor code (0xFF) to
    /// every started devnode; then IRP_MN_QUERY_POWER(state) to every started devnode, leaves
    /// first, then IRP_MN_SET_POWER(state) in the same order. Each S-IRP completes only once its
    /// stack's policy owner has had the mapped D-IRP done (its callback completes the S-IRP), so
    /// the manager waits for each, under the watchdog ([`set_power_watchdog`](Self::set_power_watchdog)).
    ///
    /// A failed query aborts the sleep: SET_POWER(S0) goes to the devnodes queried (parents
    /// first) and the result is the query's status. A failed SET_POWER is reported
    /// ([`Rule::SystemSetPowerFailed`]); the rest still get theirs, the system is asleep, and
    /// the result is the first failure.
    ///
    /// # Panics
    /// If `state` is not a sleep state, or the system is already asleep.
    pub fn sleep(&self, state: SYSTEM_POWER_STATE) -> Result<(), NTSTATUS> {
        use _SYSTEM_POWER_STATE::*;
        assert!(
            (PowerSystemSleeping1..=PowerSystemHibernate).contains(&state),
            "Kernel::sleep takes S1-S4 (PowerSystemSleeping1..PowerSystemHibernate), not {state}"
        );
        assert!(lock(&self.state.power).asleep.is_none(), "the system is already asleep");
        let action = if state == PowerSystemHibernate {
            POWER_ACTION::PowerActionHibernate
        } else {
            POWER_ACTION::PowerActionSleep
        };
        let mut order = started(&self.state);
        order.reverse(); // leaves first
        if self.state.io_verification.load(std::sync::atomic::Ordering::Relaxed) {
            for &i in &order {
                system_irp(
                    self,
                    i,
                    UNKNOWN_MINOR,
                    PowerSystemWorking,
                    POWER_ACTION::PowerActionNone,
                );
            }
        }
        for (n, &i) in order.iter().enumerate() {
            let status = system_irp(self, i, IRP_MN_QUERY_POWER as u8, state, action);
            if !NT_SUCCESS(status) {
                for &q in order[..=n].iter().rev() {
                    let _ = self.set_system(q, PowerSystemWorking, action);
                }
                return Err(status);
            }
        }
        let mut result = Ok(());
        for &i in &order {
            if let Err(status) = self.set_system(i, state, action) {
                result = result.and(Err(status));
            }
        }
        lock(&self.state.power).asleep = Some((state, action));
        result
    }

    /// Resume (§6.7): IRP_MN_SET_POWER(S0), no query, to every started devnode, parents first,
    /// each waited for as in [`sleep`](Self::sleep); ShutdownType is the action of the sleep it
    /// ends. A failure is reported ([`Rule::SystemSetPowerFailed`]) and returned (the first);
    /// the system is awake either way.
    ///
    /// # Panics
    /// If the system is not asleep.
    pub fn wake(&self) -> Result<(), NTSTATUS> {
        let (_, action) = lock(&self.state.power)
            .asleep
            .take()
            .expect("Kernel::wake while the system is in S0");
        let mut result = Ok(());
        for i in started(&self.state) {
            if let Err(status) = self.set_system(i, _SYSTEM_POWER_STATE::PowerSystemWorking, action) {
                result = result.and(Err(status));
            }
        }
        result
    }

    /// The system power state: PowerSystemWorking (S0), or the state of the last
    /// [`sleep`](Self::sleep) until [`wake`](Self::wake).
    pub fn system_power_state(&self) -> SYSTEM_POWER_STATE {
        lock(&self.state.power)
            .asleep
            .map_or(_SYSTEM_POWER_STATE::PowerSystemWorking, |(s, _)| s)
    }

    /// Sets the 0x9F/0x3 watchdog: how long the manager waits for an S-IRP (and the D-IRP it
    /// waits for) before the machine bug-checks. 10 s unless set.
    pub fn set_power_watchdog(&self, timeout: Duration) -> &Self {
        lock(&self.state.power).watchdog = Some(timeout);
        self
    }

    /// SET_POWER(`state`) to node `i`, and the report of its failure.
    fn set_system(&self, i: usize, state: SYSTEM_POWER_STATE, action: POWER_ACTION::Type) -> Result<(), NTSTATUS> {
        let status = system_irp(self, i, IRP_MN_SET_POWER as u8, state, action);
        if NT_SUCCESS(status) {
            return Ok(());
        }
        let k = &self.state;
        let _bound = Bound::new(k);
        let pdo = lock(&k.pnp).nodes[i].pdo;
        k.report(
            Rule::SystemSetPowerFailed,
            "power manager",
            None,
            [0, pdo, state as usize, status as u32 as usize],
            format!(
                "IRP_MN_SET_POWER to S{} failed with {:#x} on devnode {i}: a system set-power IRP must never fail",
                state.saturating_sub(1),
                status as u32
            ),
        );
        Err(status)
    }
}

impl crate::DeviceNode<'_> {
    /// The power IRPs the power manager sent to this devnode's stack (its own S-IRPs, and the
    /// D-IRPs and WAIT_WAKE drivers requested for it), in the order they were sent, each with
    /// the status it completed with.
    pub fn power_log(&self) -> Vec<PowerIrp> {
        lock(&self.kernel.state.power)
            .logs
            .get(&self.index)
            .cloned()
            .unwrap_or_default()
    }

    /// The device power state PoSetPowerState last recorded for `device` (any device object,
    /// usually one of [`stack`](Self::stack) or the [`pdo`](Self::pdo)); None if it never called it.
    pub fn device_power_state(&self, device: PDEVICE_OBJECT) -> Option<DEVICE_POWER_STATE> {
        lock(&self.kernel.state.power)
            .device_states
            .get(&(device as usize))
            .copied()
    }
}
