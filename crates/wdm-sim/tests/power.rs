//! The power manager (pnp-power.md §6): a raw C-style power-policy-owner FDO on a
//! root-enumerated PDO. It forwards S-IRPs with a completion routine that requests the mapped
//! D-IRP (S0 → D0, any sleep state → D3) with PoRequestPowerIrp and completes the S-IRP in the
//! request's callback; it handles D-IRPs itself (power down: PoSetPowerState before forwarding;
//! power up: PoSetPowerState in the completion routine). One broken variant per check.

#![allow(
    clippy::multiple_unsafe_ops_per_block,
    clippy::missing_safety_doc,
    clippy::undocumented_unsafe_blocks
)]
// The fixture is a C driver written in Rust: raw calls throughout.

mod common;

use std::time::Duration;

use wdm_sim::{Kernel, PowerIrp, PowerType, Rule, Severity, StopCode};
use wdm_sys::_DEVICE_POWER_STATE::{PowerDeviceD0, PowerDeviceD3};
use wdm_sys::_SYSTEM_POWER_STATE::{PowerSystemHibernate, PowerSystemSleeping3, PowerSystemWorking};
use wdm_sys::POWER_ACTION::{PowerActionHibernate, PowerActionNone, PowerActionSleep};
use wdm_sys::ntddk::*;
use wdm_sys::*;

/// What the fixture does wrong (a const parameter: tests run in parallel, each with its own).
const GOOD: u32 = 0;
/// Fails the device SET_POWER to D3.
const FAILS_D_DOWN: u32 = 1;
/// Fails the device SET_POWER to D0.
const FAILS_D_UP: u32 = 2;
/// Completes the device SET_POWER to D3 with STATUS_SUCCESS itself, without passing it down.
const COMPLETES_SUCCESS: u32 = 3;
/// Completes the system QUERY_POWER as it came (STATUS_NOT_SUPPORTED) instead of passing it down.
const COMPLETES_NOT_SUPPORTED: u32 = 4;
/// Fails the system SET_POWER to a sleep state.
const FAILS_S_SET: u32 = 5;
/// Pends the device SET_POWER to D3 and never completes it.
const HOLDS_D_SET: u32 = 6;
/// Passes a non-NULL Irp out-pointer to PoRequestPowerIrp for the D-IRPs.
const PASSES_IRP_POINTER: u32 = 7;
/// Completes power IRPs of minor codes it does not know instead of passing them down.
const COMPLETES_UNKNOWN: u32 = 8;
/// Fails the device QUERY_POWER (legal: no D-state it can support).
const VETOES_D_QUERY: u32 = 9;
/// Not a policy owner: passes every power IRP down (skip + PoCallDriver), requests nothing.
const PASSES_ALL: u32 = 10;
/// Passes the PnP IRPs it does not handle down with PoCallDriver.
const PO_CALLS_PNP: u32 = 11;
/// Calls PoSetPowerState(D3) in a completion routine, after the lower drivers powered down.
const SETS_D3_LATE: u32 = 12;
/// Calls PoSetPowerState(D0) before passing the power-up IRP down.
const SETS_D0_EARLY: u32 = 13;
/// Allocates (and frees) pool while handling the power-down D-IRP.
const ALLOCATES_ON_POWER_DOWN: u32 = 14;

/// What the driver saw, in order: `kind << 16 | minor << 8 | state`.
const S_DONE: u32 = 1; // the S-IRP's completion routine (minor, S-state)
const D_DOWN: u32 = 2; // D-IRP power-down dispatch, after PoSetPowerState (D-state)
const D_UP: u32 = 3; // D-IRP power-up completion routine, after PoSetPowerState (D-state)
const CALLBACK: u32 = 4; // the PoRequestPowerIrp callback (minor, D-state)
const PREVIOUS: u32 = 5; // what PoSetPowerState returned (D-state)

const fn ev(kind: u32, minor: u32, state: u32) -> u32 {
    kind << 16 | minor << 8 | state
}

const SET: u32 = IRP_MN_SET_POWER;
const QUERY: u32 = IRP_MN_QUERY_POWER;

#[repr(C)]
struct Ext {
    lower: PDEVICE_OBJECT,
    /// The D-IRP HOLDS_D_SET keeps.
    held: PIRP,
    /// Where PASSES_IRP_POINTER has PoRequestPowerIrp store its IRP.
    requested: PIRP,
    events: [u32; 32],
    /// When each event happened (a counter shared by every device: monotonic, so it orders
    /// the events of two devices of one test).
    seqs: [u32; 32],
    n: usize,
}

static SEQUENCE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

unsafe fn ext(device: PDEVICE_OBJECT) -> *mut Ext {
    unsafe { (*device).DeviceExtension.cast() }
}

unsafe fn record(device: PDEVICE_OBJECT, event: u32) {
    unsafe {
        let e = ext(device);
        (*e).events[(*e).n] = event;
        (*e).seqs[(*e).n] = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (*e).n += 1;
    }
}

unsafe fn complete(irp: PIRP, status: NTSTATUS) -> NTSTATUS {
    unsafe {
        (*irp).IoStatus.__bindgen_anon_1.Status = status;
        IoCompleteRequest(irp, IO_NO_INCREMENT as i8);
    }
    status
}

unsafe extern "C-unwind" fn add_device(driver: PDRIVER_OBJECT, pdo: PDEVICE_OBJECT) -> NTSTATUS {
    unsafe {
        let mut fdo: PDEVICE_OBJECT = std::ptr::null_mut();
        let status = IoCreateDevice(
            driver,
            size_of::<Ext>() as u32,
            std::ptr::null_mut(),
            FILE_DEVICE_UNKNOWN,
            FILE_DEVICE_SECURE_OPEN,
            0,
            &mut fdo,
        );
        if !NT_SUCCESS(status) {
            return status;
        }
        let e = ext(fdo);
        (*e).lower = IoAttachDeviceToDeviceStack(fdo, pdo);
        (*fdo).Flags &= !DO_DEVICE_INITIALIZING;
    }
    STATUS_SUCCESS
}

unsafe extern "C-unwind" fn dispatch_pnp<const M: u32>(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    unsafe {
        let lower = (*ext(device)).lower;
        match u32::from((*IoGetCurrentIrpStackLocation(irp)).MinorFunction) {
            IRP_MN_START_DEVICE => {
                let status = common::forward_and_wait(lower, irp);
                complete(irp, status)
            }
            IRP_MN_REMOVE_DEVICE => {
                (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
                IoSkipCurrentIrpStackLocation(irp);
                let status = IoCallDriver(lower, irp);
                IoDetachDevice(lower);
                IoDeleteDevice(device);
                status
            }
            minor => {
                if minor == IRP_MN_QUERY_REMOVE_DEVICE || minor == IRP_MN_SURPRISE_REMOVAL {
                    (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
                }
                IoSkipCurrentIrpStackLocation(irp);
                if M == PO_CALLS_PNP {
                    PoCallDriver(lower, irp)
                } else {
                    IoCallDriver(lower, irp)
                }
            }
        }
    }
}

/// The S-IRP's completion routine (§6.5): request the mapped D-IRP; its callback completes the
/// S-IRP.
unsafe extern "C-unwind" fn system_done<const M: u32>(device: PDEVICE_OBJECT, irp: PIRP, _c: PVOID) -> NTSTATUS {
    unsafe {
        let stack = &*IoGetCurrentIrpStackLocation(irp);
        let minor = stack.MinorFunction;
        let s = stack.Parameters.Power.State.SystemState;
        record(device, ev(S_DONE, u32::from(minor), s));
        if u32::from(minor) == QUERY && !NT_SUCCESS((*irp).IoStatus.__bindgen_anon_1.Status) {
            return STATUS_CONTINUE_COMPLETION;
        }
        let d = if s == PowerSystemWorking {
            PowerDeviceD0
        } else {
            PowerDeviceD3
        };
        let out: *mut PIRP = if M == PASSES_IRP_POINTER {
            &raw mut (*ext(device)).requested
        } else {
            std::ptr::null_mut()
        };
        let status = PoRequestPowerIrp(
            device,
            minor,
            POWER_STATE { DeviceState: d },
            Some(device_done),
            irp.cast(),
            out,
        );
        if status != STATUS_PENDING {
            (*irp).IoStatus.__bindgen_anon_1.Status = status;
            return STATUS_CONTINUE_COMPLETION;
        }
        STATUS_MORE_PROCESSING_REQUIRED
    }
}

/// PoRequestPowerIrp's callback: the S-IRP takes the D-IRP's status and completes.
unsafe extern "C-unwind" fn device_done(
    device: PDEVICE_OBJECT,
    minor: UCHAR,
    state: POWER_STATE,
    context: PVOID,
    io_status: *mut IO_STATUS_BLOCK,
) {
    unsafe {
        record(device, ev(CALLBACK, u32::from(minor), state.DeviceState));
        let s_irp: PIRP = context.cast();
        (*s_irp).IoStatus.__bindgen_anon_1.Status = (*io_status).__bindgen_anon_1.Status;
        PoStartNextPowerIrp(s_irp);
        IoCompleteRequest(s_irp, IO_NO_INCREMENT as i8);
    }
}

/// Power-up, on the way up (§6.6): the PDO has powered the device; restore, then announce D0.
unsafe extern "C-unwind" fn device_up(device: PDEVICE_OBJECT, irp: PIRP, _c: PVOID) -> NTSTATUS {
    unsafe {
        let previous = PoSetPowerState(
            device,
            _POWER_STATE_TYPE::DevicePowerState,
            POWER_STATE {
                DeviceState: PowerDeviceD0,
            },
        );
        record(device, ev(PREVIOUS, 0, previous.DeviceState));
        record(device, ev(D_UP, SET, PowerDeviceD0));
        PoStartNextPowerIrp(irp);
    }
    STATUS_CONTINUE_COMPLETION
}

/// SETS_D3_LATE's completion routine: announces D3 once the PDO has already cut the power.
unsafe extern "C-unwind" fn late_d3(device: PDEVICE_OBJECT, _irp: PIRP, _c: PVOID) -> NTSTATUS {
    unsafe {
        let d3 = POWER_STATE {
            DeviceState: PowerDeviceD3,
        };
        let _ = PoSetPowerState(device, _POWER_STATE_TYPE::DevicePowerState, d3);
    }
    STATUS_CONTINUE_COMPLETION
}

unsafe extern "C-unwind" fn dispatch_power<const M: u32>(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    unsafe {
        let e = ext(device);
        let lower = (*e).lower;
        let stack = &*IoGetCurrentIrpStackLocation(irp);
        let minor = u32::from(stack.MinorFunction);
        let pass_down = |irp: PIRP| {
            PoStartNextPowerIrp(irp);
            IoSkipCurrentIrpStackLocation(irp);
            PoCallDriver(lower, irp)
        };
        if minor != SET && minor != QUERY {
            if M == COMPLETES_UNKNOWN {
                let status = (*irp).IoStatus.__bindgen_anon_1.Status;
                IoCompleteRequest(irp, IO_NO_INCREMENT as i8);
                return status;
            }
            return pass_down(irp);
        }
        if M == PASSES_ALL {
            return pass_down(irp);
        }
        let power = stack.Parameters.Power;
        if power.Type == _POWER_STATE_TYPE::SystemPowerState {
            let s = power.State.SystemState;
            if M == FAILS_S_SET && minor == SET && s != PowerSystemWorking {
                return complete(irp, STATUS_UNSUCCESSFUL);
            }
            if M == COMPLETES_NOT_SUPPORTED && minor == QUERY {
                let status = (*irp).IoStatus.__bindgen_anon_1.Status;
                IoCompleteRequest(irp, IO_NO_INCREMENT as i8);
                return status;
            }
            IoMarkIrpPending(irp);
            IoCopyCurrentIrpStackLocationToNext(irp);
            IoSetCompletionRoutine(irp, Some(system_done::<M>), std::ptr::null_mut(), true, true, true);
            let _ = PoCallDriver(lower, irp);
            return STATUS_PENDING;
        }
        let d = power.State.DeviceState;
        if minor == QUERY {
            if M == VETOES_D_QUERY {
                return complete(irp, STATUS_UNSUCCESSFUL);
            }
            (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
            return pass_down(irp);
        }
        if d == PowerDeviceD0 {
            if M == FAILS_D_UP {
                return complete(irp, STATUS_UNSUCCESSFUL);
            }
            if M == SETS_D0_EARLY {
                let _ = PoSetPowerState(device, power.Type, power.State);
                (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
                return pass_down(irp);
            }
            IoMarkIrpPending(irp);
            IoCopyCurrentIrpStackLocationToNext(irp);
            IoSetCompletionRoutine(irp, Some(device_up), std::ptr::null_mut(), true, true, true);
            let _ = PoCallDriver(lower, irp);
            return STATUS_PENDING;
        }
        match M {
            FAILS_D_DOWN => return complete(irp, STATUS_UNSUCCESSFUL),
            COMPLETES_SUCCESS => return complete(irp, STATUS_SUCCESS),
            HOLDS_D_SET => {
                IoMarkIrpPending(irp);
                (*e).held = irp;
                return STATUS_PENDING;
            }
            SETS_D3_LATE => {
                IoMarkIrpPending(irp);
                IoCopyCurrentIrpStackLocationToNext(irp);
                IoSetCompletionRoutine(irp, Some(late_d3), std::ptr::null_mut(), true, true, true);
                let _ = PoCallDriver(lower, irp);
                return STATUS_PENDING;
            }
            ALLOCATES_ON_POWER_DOWN => {
                let block = ExAllocatePoolWithTag(NON_PAGED_POOL_NX, 16, u32::from_le_bytes(*b"PwrT"));
                ExFreePoolWithTag(block, u32::from_le_bytes(*b"PwrT"));
            }
            _ => {}
        }
        // Power down, on the way down: save context, announce the new state, then forward.
        let previous = PoSetPowerState(device, power.Type, power.State);
        record(device, ev(PREVIOUS, 0, previous.DeviceState));
        record(device, ev(D_DOWN, SET, d));
        (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
        pass_down(irp)
    }
}

unsafe extern "C-unwind" fn unload(_driver: PDRIVER_OBJECT) {}

unsafe extern "C-unwind" fn entry<const M: u32>(driver: PDRIVER_OBJECT, _path: PUNICODE_STRING) -> NTSTATUS {
    unsafe {
        (*(*driver).DriverExtension).AddDevice = Some(add_device);
        (*driver).MajorFunction[IRP_MJ_PNP as usize] = Some(dispatch_pnp::<M>);
        (*driver).MajorFunction[IRP_MJ_POWER as usize] = Some(dispatch_power::<M>);
        (*driver).DriverUnload = Some(unload);
    }
    STATUS_SUCCESS
}

/// The rules reported, in order.
fn rules(kernel: &Kernel) -> Vec<Rule> {
    kernel.take_reports().iter().map(|r| r.rule).collect()
}

/// A power log entry without its PoStartNextPowerIrp count.
type Entry = (u32, PowerType, u32, u32, bool, NTSTATUS);

fn log(node: &wdm_sim::DeviceNode<'_>) -> Vec<Entry> {
    node.power_log()
        .iter()
        .map(|p: &PowerIrp| {
            (
                u32::from(p.minor),
                p.kind,
                p.state,
                p.shutdown_type,
                p.requested,
                p.status,
            )
        })
        .collect()
}

fn events(fdo: PDEVICE_OBJECT) -> Vec<u32> {
    unsafe {
        let e = ext(fdo);
        (&(*e).events)[..(*e).n].to_vec()
    }
}

use PowerType::{Device, System};

#[test]
fn s0_s3_s0_sends_the_s_irps_and_the_mapped_d_irps_in_order() {
    let kernel = Kernel::new();
    let driver = kernel.load("powertest", entry::<GOOD>).unwrap();
    let node = kernel.add_root_device(r"ROOT\POWERTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    let fdo = node.stack()[0];
    assert_eq!(node.device_power_state(fdo), None, "no PoSetPowerState yet");

    assert_eq!(kernel.sleep(PowerSystemSleeping3), Ok(()));
    assert_eq!(kernel.system_power_state(), PowerSystemSleeping3);
    let sleep = PowerActionSleep;
    let ok = STATUS_SUCCESS;
    assert_eq!(
        log(&node),
        [
            // Driver Verifier's unknown minor code: passed down, completed untouched by the PDO.
            (
                0xFF,
                System,
                PowerSystemWorking,
                PowerActionNone,
                false,
                STATUS_NOT_SUPPORTED
            ),
            (QUERY, System, PowerSystemSleeping3, sleep, false, ok),
            (QUERY, Device, PowerDeviceD3, sleep, true, ok),
            (SET, System, PowerSystemSleeping3, sleep, false, ok),
            (SET, Device, PowerDeviceD3, sleep, true, ok),
        ]
    );
    assert_eq!(node.device_power_state(fdo), Some(PowerDeviceD3));
    assert_eq!(node.device_power_state(node.pdo()), Some(PowerDeviceD3));

    assert_eq!(kernel.wake(), Ok(()));
    assert_eq!(kernel.system_power_state(), PowerSystemWorking);
    assert_eq!(
        log(&node)[5..],
        [
            (SET, System, PowerSystemWorking, sleep, false, ok),
            (SET, Device, PowerDeviceD0, sleep, true, ok),
        ]
    );
    assert_eq!(node.device_power_state(fdo), Some(PowerDeviceD0));
    assert_eq!(node.device_power_state(node.pdo()), Some(PowerDeviceD0));
    // Every IRP passed the PDO and one driver that called PoStartNextPowerIrp.
    assert!(
        node.power_log().iter().all(|p| p.start_next_calls == 2),
        "{:?}",
        node.power_log()
    );

    assert_eq!(
        events(fdo),
        [
            ev(S_DONE, QUERY, PowerSystemSleeping3),
            ev(CALLBACK, QUERY, PowerDeviceD3),
            ev(S_DONE, SET, PowerSystemSleeping3),
            // PoSetPowerState returns the previous state: D0 for a started device.
            ev(PREVIOUS, 0, PowerDeviceD0),
            ev(D_DOWN, SET, PowerDeviceD3),
            ev(CALLBACK, SET, PowerDeviceD3),
            ev(S_DONE, SET, PowerSystemWorking),
            ev(PREVIOUS, 0, PowerDeviceD3),
            // The callback runs after the D-IRP's completion routine.
            ev(D_UP, SET, PowerDeviceD0),
            ev(CALLBACK, SET, PowerDeviceD0),
        ]
    );
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn hibernation_carries_power_action_hibernate_to_the_d_irps() {
    let kernel = Kernel::new();
    kernel.without_io_verification();
    let driver = kernel.load("powertest", entry::<GOOD>).unwrap();
    let node = kernel.add_root_device(r"ROOT\POWERTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    assert_eq!(kernel.sleep(PowerSystemHibernate), Ok(()));
    assert_eq!(kernel.wake(), Ok(()));
    let hib = PowerActionHibernate;
    let ok = STATUS_SUCCESS;
    assert_eq!(
        log(&node),
        [
            (QUERY, System, PowerSystemHibernate, hib, false, ok),
            (QUERY, Device, PowerDeviceD3, hib, true, ok),
            (SET, System, PowerSystemHibernate, hib, false, ok),
            (SET, Device, PowerDeviceD3, hib, true, ok),
            (SET, System, PowerSystemWorking, hib, false, ok),
            (SET, Device, PowerDeviceD0, hib, true, ok),
        ]
    );
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn sleep_goes_leaves_first_and_wake_parents_first() {
    let kernel = Kernel::new();
    kernel.without_io_verification();
    let driver = kernel.load("powertest", entry::<GOOD>).unwrap();
    // Enumerated in this order, so `first` is on the parent side, `second` on the leaf side.
    let first = kernel.add_root_device(r"ROOT\POWERTEST\0");
    let second = kernel.add_root_device(r"ROOT\POWERTEST\1");
    for node in [&first, &second] {
        assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
        assert_eq!(node.start(), STATUS_SUCCESS);
    }
    let (a, b) = (first.stack()[0], second.stack()[0]);
    let when = |fdo: PDEVICE_OBJECT, event: u32| unsafe {
        let e = ext(fdo);
        let at = (&(*e).events)[..(*e).n].iter().position(|&x| x == event).unwrap();
        (*e).seqs[at]
    };
    assert_eq!(kernel.sleep(PowerSystemSleeping3), Ok(()));
    let query = ev(S_DONE, QUERY, PowerSystemSleeping3);
    let set = ev(S_DONE, SET, PowerSystemSleeping3);
    // Leaves first, and every query before any set.
    assert!(when(b, query) < when(a, query));
    assert!(when(a, query) < when(b, set));
    assert!(when(b, set) < when(a, set));
    assert_eq!(kernel.wake(), Ok(()));
    let up = ev(S_DONE, SET, PowerSystemWorking);
    assert!(when(a, up) < when(b, up), "parents first");
    assert_eq!(first.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    assert_eq!(second.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn the_s_irp_takes_the_d_irps_status_and_a_failed_query_is_undone_with_s0() {
    let kernel = Kernel::new();
    kernel.without_io_verification();
    let driver = kernel.load("powertest", entry::<VETOES_D_QUERY>).unwrap();
    let node = kernel.add_root_device(r"ROOT\POWERTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    assert_eq!(kernel.sleep(PowerSystemSleeping3), Err(STATUS_UNSUCCESSFUL));
    assert_eq!(kernel.system_power_state(), PowerSystemWorking);
    let sleep = PowerActionSleep;
    let ok = STATUS_SUCCESS;
    assert_eq!(
        log(&node),
        [
            (QUERY, System, PowerSystemSleeping3, sleep, false, STATUS_UNSUCCESSFUL),
            (QUERY, Device, PowerDeviceD3, sleep, true, STATUS_UNSUCCESSFUL),
            (SET, System, PowerSystemWorking, sleep, false, ok),
            (SET, Device, PowerDeviceD0, sleep, true, ok),
        ]
    );
    // A query may fail: nothing is reported.
    assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

/// A machine with one devnode whose FDO is the fixture variant `M`, started.
fn started<const M: u32>(kernel: &Kernel) -> (wdm_sim::Driver<'_>, wdm_sim::DeviceNode<'_>) {
    let driver = kernel.load("powertest", entry::<M>).unwrap();
    let node = kernel.add_root_device(r"ROOT\POWERTEST");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    (driver, node)
}

#[test]
fn an_fdo_failing_a_device_power_down_is_power_down_fail() {
    let kernel = Kernel::new();
    let (_driver, _node) = started::<FAILS_D_DOWN>(&kernel);
    assert_eq!(kernel.sleep(PowerSystemSleeping3), Err(STATUS_UNSUCCESSFUL));
    assert_eq!(rules(&kernel), [Rule::PowerDownFail, Rule::SystemSetPowerFailed]);
    assert_eq!(Rule::PowerDownFail.sdv_rule(), Some("PowerDownFail"));
    assert_eq!(kernel.wake(), Ok(()));
    assert!(kernel.reports().is_empty());
}

#[test]
fn an_fdo_failing_a_device_power_up_is_power_up_fail() {
    let kernel = Kernel::new();
    let (_driver, _node) = started::<FAILS_D_UP>(&kernel);
    assert_eq!(kernel.sleep(PowerSystemSleeping3), Ok(()));
    assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
    assert_eq!(kernel.wake(), Err(STATUS_UNSUCCESSFUL));
    assert_eq!(rules(&kernel), [Rule::PowerUpFail, Rule::SystemSetPowerFailed]);
    assert_eq!(Rule::PowerUpFail.sdv_rule(), Some("PowerUpFail"));
}

#[test]
fn an_fdo_completing_a_power_irp_with_success_is_0xc9_0x231() {
    let kernel = Kernel::new();
    let (_driver, node) = started::<COMPLETES_SUCCESS>(&kernel);
    let fdo = node.stack()[0];
    let bug = kernel.catch(|| kernel.sleep(PowerSystemSleeping3)).unwrap_err().0;
    assert_eq!(bug.rule, Rule::PowerIrpCompletedAbovePdo);
    assert_eq!(bug.rule.stop_code(), StopCode::sub(0xC9, 0x231));
    assert_eq!(bug.rule.severity(), Severity::Fatal);
    assert_eq!(bug.parameters[1], fdo as usize);
}

#[test]
fn an_fdo_failing_a_power_irp_with_not_supported_is_0xc9_0x232() {
    let kernel = Kernel::new();
    let (_driver, node) = started::<COMPLETES_NOT_SUPPORTED>(&kernel);
    assert_eq!(kernel.sleep(PowerSystemSleeping3), Err(STATUS_NOT_SUPPORTED));
    assert_eq!(rules(&kernel), [Rule::PowerNotSupportedAbovePdo]);
    assert_eq!(Rule::PowerNotSupportedAbovePdo.stop_code(), StopCode::sub(0xC9, 0x232));
    // The failed query is undone with SET_POWER(S0).
    let last = *node.power_log().last().unwrap();
    assert_eq!(
        (u32::from(last.minor), last.kind, last.state),
        (SET, Device, PowerDeviceD0)
    );
}

#[test]
fn failing_a_system_set_power_is_reported() {
    let kernel = Kernel::new();
    let (_driver, node) = started::<FAILS_S_SET>(&kernel);
    assert_eq!(kernel.sleep(PowerSystemSleeping3), Err(STATUS_UNSUCCESSFUL));
    let reports = kernel.take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].rule, Rule::SystemSetPowerFailed);
    assert_eq!(reports[0].parameters[1], node.pdo() as usize);
    // It cannot be undone: the system is asleep anyway.
    assert_eq!(kernel.system_power_state(), PowerSystemSleeping3);
}

#[test]
fn a_d_irp_held_past_the_watchdog_is_0x9f_0x3() {
    let kernel = Kernel::new();
    kernel.set_power_watchdog(Duration::from_millis(50));
    let (_driver, node) = started::<HOLDS_D_SET>(&kernel);
    let fdo = node.stack()[0];
    let bug = kernel.catch(|| kernel.sleep(PowerSystemSleeping3)).unwrap_err().0;
    assert_eq!(bug.rule, Rule::PowerIrpTimeout);
    assert_eq!(bug.rule.stop_code(), StopCode::sub(0x9F, 0x3));
    let held = unsafe { (*ext(fdo)).held };
    assert!(!held.is_null());
    assert_eq!(bug.parameters, [0x3, node.pdo() as usize, 0, held as usize]);
}

unsafe extern "C-unwind" fn ignore(
    _d: PDEVICE_OBJECT,
    _m: UCHAR,
    _s: POWER_STATE,
    _c: PVOID,
    _io: *mut IO_STATUS_BLOCK,
) {
}

#[test]
fn deleting_a_device_with_a_power_irp_pending_is_0x9f_0x1() {
    let kernel = Kernel::new();
    let (_driver, node) = started::<HOLDS_D_SET>(&kernel);
    let fdo = node.stack()[0] as usize;
    // The test is the policy owner here: D3, which the FDO pends for good.
    let status = kernel.run(|| unsafe {
        let d3 = POWER_STATE {
            DeviceState: PowerDeviceD3,
        };
        PoRequestPowerIrp(
            fdo as PDEVICE_OBJECT,
            SET as u8,
            d3,
            Some(ignore),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    });
    assert_eq!(status, STATUS_PENDING);
    assert_eq!(log(&node).last().unwrap().5, STATUS_PENDING);
    let bug = kernel.catch(|| node.query_remove_and_remove()).unwrap_err().0;
    assert_eq!(bug.rule, Rule::DeleteWithPowerIrpPending);
    assert_eq!(bug.rule.stop_code(), StopCode::sub(0x9F, 0x1));
    assert_eq!(bug.parameters[1], fdo);
}

#[test]
fn an_irp_pointer_for_a_set_power_request_is_requested_power_irp_0xc4_0x4100b() {
    let kernel = Kernel::new();
    let (_driver, _node) = started::<PASSES_IRP_POINTER>(&kernel);
    let bug = kernel.catch(|| kernel.sleep(PowerSystemSleeping3)).unwrap_err().0;
    assert_eq!(bug.rule, Rule::RequestedPowerIrp);
    assert_eq!(bug.rule.stop_code(), StopCode::sub(0xC4, 0x4100B));
    assert_eq!(bug.rule.sdv_rule(), Some("RequestedPowerIrp"));
}

#[test]
fn completing_an_unknown_power_irp_is_0xc9_0x230() {
    let kernel = Kernel::new();
    let (_driver, node) = started::<COMPLETES_UNKNOWN>(&kernel);
    assert_eq!(kernel.sleep(PowerSystemSleeping3), Ok(()));
    assert_eq!(rules(&kernel), [Rule::PowerUnknownIrpCompleted]);
    assert_eq!(Rule::PowerUnknownIrpCompleted.stop_code(), StopCode::sub(0xC9, 0x230));
    assert_eq!(node.power_log()[0].minor, 0xFF);
    assert_eq!(kernel.wake(), Ok(()));
    assert!(kernel.reports().is_empty());
}

#[test]
fn the_unknown_power_irp_probe_is_off_without_io_verification() {
    let kernel = Kernel::new();
    kernel.without_io_verification();
    let (_driver, node) = started::<COMPLETES_UNKNOWN>(&kernel);
    assert_eq!(kernel.sleep(PowerSystemSleeping3), Ok(()));
    assert_eq!(node.power_log().len(), 4);
    assert!(kernel.reports().is_empty());
}

#[test]
fn under_wine_checks_po_request_power_irp_is_fatal() {
    let kernel = Kernel::new();
    kernel.wine_checks();
    let (_driver, _node) = started::<GOOD>(&kernel);
    let bug = kernel.catch(|| kernel.sleep(PowerSystemSleeping3)).unwrap_err().0;
    assert_eq!(bug.rule, Rule::WineStubCalled);
    assert_eq!(bug.routine, "PoRequestPowerIrp");
    assert!(bug.message.contains("winedevice.exe"), "{}", bug.message);
}

#[test]
fn a_driver_that_only_passes_power_irps_down_is_clean_under_wine_checks() {
    let kernel = Kernel::new();
    kernel.wine_checks();
    let (driver, node) = started::<PASSES_ALL>(&kernel);
    assert_eq!(kernel.sleep(PowerSystemSleeping3), Ok(()));
    assert_eq!(kernel.wake(), Ok(()));
    // The S-IRPs only, each succeeded by the PDO; no D-IRP was requested.
    assert!(node.power_log().iter().all(|p| p.kind == System && !p.requested));
    assert_eq!(node.power_log().len(), 4);
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn po_call_driver_with_a_pnp_irp_is_reported() {
    let kernel = Kernel::new();
    let (driver, node) = started::<PO_CALLS_PNP>(&kernel);
    let reports = rules(&kernel);
    assert!(
        !reports.is_empty() && reports.iter().all(|&r| r == Rule::PoCallDriverNotPower),
        "{reports:?}"
    );
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    let _ = rules(&kernel);
    driver.unload();
    kernel.assert_clean();
}

#[derive(Default)]
struct Seen {
    calls: u32,
    minor: u8,
    state: u32,
    status: NTSTATUS,
}

unsafe extern "C-unwind" fn seen(
    _d: PDEVICE_OBJECT,
    minor: UCHAR,
    state: POWER_STATE,
    context: PVOID,
    io: *mut IO_STATUS_BLOCK,
) {
    unsafe {
        let s = &mut *context.cast::<Seen>();
        s.calls += 1;
        s.minor = minor;
        s.state = state.SystemState;
        s.status = (*io).__bindgen_anon_1.Status;
    }
}

#[test]
fn po_request_power_irp_checks_the_minor_and_allows_an_irp_pointer_for_wait_wake() {
    let kernel = Kernel::new();
    let (driver, node) = started::<GOOD>(&kernel);
    let fdo = node.stack()[0] as usize;
    let mut s = Seen::default();
    let sp = &raw mut s as usize;
    let (sequence, wake, irp) = kernel.run(|| unsafe {
        let s3 = POWER_STATE {
            SystemState: PowerSystemSleeping3,
        };
        let mut irp: PIRP = std::ptr::null_mut();
        let sequence = PoRequestPowerIrp(
            fdo as PDEVICE_OBJECT,
            IRP_MN_POWER_SEQUENCE as u8,
            s3,
            Some(seen),
            sp as PVOID,
            &mut irp,
        );
        assert!(irp.is_null());
        let wake = PoRequestPowerIrp(
            fdo as PDEVICE_OBJECT,
            IRP_MN_WAIT_WAKE as u8,
            s3,
            Some(seen),
            sp as PVOID,
            &mut irp,
        );
        (sequence, wake, irp as usize)
    });
    assert_eq!(sequence, STATUS_INVALID_PARAMETER_2);
    assert_eq!(wake, STATUS_PENDING);
    assert_ne!(irp, 0, "WAIT_WAKE hands its IRP out, to be cancelled");
    // The FDO passed it down; the root PDO cannot wake and completed it untouched.
    assert_eq!(
        (s.calls, u32::from(s.minor), s.state, s.status),
        (1, IRP_MN_WAIT_WAKE, PowerSystemSleeping3, STATUS_NOT_SUPPORTED)
    );
    assert_eq!(
        log(&node),
        [(
            IRP_MN_WAIT_WAKE,
            System,
            PowerSystemSleeping3,
            0,
            true,
            STATUS_NOT_SUPPORTED
        )]
    );
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_po_request_power_irp_failing_for_low_resources_fails_the_s_irp_with_its_status() {
    let kernel = Kernel::new();
    kernel.without_io_verification();
    let (driver, node) = started::<GOOD>(&kernel);
    // The D-IRP is the next pool allocation: PoRequestPowerIrp fails, and the policy owner's
    // completion routine lets the S-IRP complete with that status.
    kernel.fail_allocation(0);
    assert_eq!(kernel.sleep(PowerSystemSleeping3), Err(STATUS_INSUFFICIENT_RESOURCES));
    assert_eq!(kernel.failed_allocations(), 1);
    let sleep = PowerActionSleep;
    assert_eq!(
        log(&node),
        [
            (
                QUERY,
                System,
                PowerSystemSleeping3,
                sleep,
                false,
                STATUS_INSUFFICIENT_RESOURCES
            ),
            (SET, System, PowerSystemWorking, sleep, false, STATUS_SUCCESS),
            (SET, Device, PowerDeviceD0, sleep, true, STATUS_SUCCESS),
        ]
    );
    assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn po_request_power_irp_for_something_that_is_not_a_device_is_invalid_parameter() {
    let kernel = Kernel::new();
    let mut not_a_device = [0u8; 64];
    let p = not_a_device.as_mut_ptr() as usize;
    let bug = kernel
        .catch(|| {
            kernel.run(|| unsafe {
                let d0 = POWER_STATE {
                    DeviceState: PowerDeviceD0,
                };
                PoRequestPowerIrp(
                    p as PDEVICE_OBJECT,
                    SET as u8,
                    d0,
                    Some(ignore),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            })
        })
        .unwrap_err()
        .0;
    assert_eq!(bug.rule, Rule::InvalidParameter);
    assert_eq!(bug.routine, "PoRequestPowerIrp");
}

#[test]
fn po_set_power_state_after_the_pdo_powered_down_is_out_of_order() {
    let kernel = Kernel::new();
    let (_driver, node) = started::<SETS_D3_LATE>(&kernel);
    assert_eq!(kernel.sleep(PowerSystemSleeping3), Ok(()));
    let reports = kernel.take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].rule, Rule::PoSetPowerStateOutOfOrder);
    assert_eq!(reports[0].parameters[0], node.stack()[0] as usize);
    // Waking is in order: the same driver announces D0 in its completion routine.
    assert_eq!(kernel.wake(), Ok(()));
    assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
}

#[test]
fn po_set_power_state_d0_before_the_pdo_powered_up_is_out_of_order() {
    let kernel = Kernel::new();
    let (_driver, _node) = started::<SETS_D0_EARLY>(&kernel);
    assert_eq!(kernel.sleep(PowerSystemSleeping3), Ok(()));
    assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
    assert_eq!(kernel.wake(), Ok(()));
    assert_eq!(rules(&kernel), [Rule::PoSetPowerStateOutOfOrder]);
}

#[test]
fn allocating_pool_while_the_system_goes_to_sleep_is_power_down_allocate() {
    let kernel = Kernel::new();
    let (_driver, _node) = started::<ALLOCATES_ON_POWER_DOWN>(&kernel);
    assert_eq!(kernel.sleep(PowerSystemSleeping3), Ok(()));
    let reports = kernel.take_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].rule, Rule::PowerDownAllocate);
    assert_eq!(reports[0].rule.sdv_rule(), Some("PowerDownAllocate"));
    assert_eq!(reports[0].parameters[..2], [16, u32::from_le_bytes(*b"PwrT") as usize]);
    // Outside the S0 -> Sx SET_POWER, allocating is fine.
    assert_eq!(kernel.wake(), Ok(()));
    kernel.run(|| unsafe {
        let block = ExAllocatePoolWithTag(NON_PAGED_POOL_NX, 16, 0);
        ExFreePoolWithTag(block, 0);
    });
    assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
}

#[test]
fn a_filter_above_the_policy_owner_passes_every_power_irp_through() {
    let kernel = Kernel::new();
    let owner = kernel.load("powertest", entry::<GOOD>).unwrap();
    let filter = kernel.load("powerfilter", entry::<PASSES_ALL>).unwrap();
    let node = kernel.add_root_device(r"ROOT\POWERTEST");
    assert_eq!(node.add_driver(&owner), STATUS_SUCCESS);
    assert_eq!(node.add_driver(&filter), STATUS_SUCCESS);
    assert_eq!(node.start(), STATUS_SUCCESS);
    let stack = node.stack();
    assert_eq!(stack.len(), 2);
    assert_eq!(kernel.sleep(PowerSystemSleeping3), Ok(()));
    assert_eq!(kernel.wake(), Ok(()));
    let (sleep, ok) = (PowerActionSleep, STATUS_SUCCESS);
    assert_eq!(
        log(&node),
        [
            (
                0xFF,
                System,
                PowerSystemWorking,
                PowerActionNone,
                false,
                STATUS_NOT_SUPPORTED
            ),
            (QUERY, System, PowerSystemSleeping3, sleep, false, ok),
            (QUERY, Device, PowerDeviceD3, sleep, true, ok),
            (SET, System, PowerSystemSleeping3, sleep, false, ok),
            (SET, Device, PowerDeviceD3, sleep, true, ok),
            (SET, System, PowerSystemWorking, sleep, false, ok),
            (SET, Device, PowerDeviceD0, sleep, true, ok),
        ]
    );
    // Every IRP went through the filter (it calls PoStartNextPowerIrp as it passes one down),
    // the owner and the PDO; the filter never called PoSetPowerState.
    assert!(
        node.power_log().iter().all(|p| p.start_next_calls == 3),
        "{:?}",
        node.power_log()
    );
    assert_eq!(node.device_power_state(stack[1]), None);
    assert_eq!(node.device_power_state(stack[0]), Some(PowerDeviceD0));
    assert!(events(stack[1]).is_empty());
    assert_eq!(events(stack[0]).len(), 10);
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    filter.unload();
    owner.unload();
    kernel.assert_clean();
}
