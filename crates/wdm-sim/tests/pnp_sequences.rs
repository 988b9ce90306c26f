//! The PnP manager's stop and cancel sequences (pnp-power.md §2.2, §2.3, §2.9, §4): rebalance
//! (QUERY_STOP, STOP, START again), its vetoes and cancels, the query-remove cancel, what the
//! devnode's state lets through, and the must-succeed checks. The fixture is a raw C-style
//! function driver that holds reads while stopped and drains them on restart; one broken
//! variant per check.

#![allow(
    clippy::multiple_unsafe_ops_per_block,
    clippy::missing_safety_doc,
    clippy::undocumented_unsafe_blocks
)]

mod common;

use common::{answer as complete, forward_and_wait};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use wdm_sim::{Kernel, NodeState, Rule, StopCode};
use wdm_sys::ntddk::*;
use wdm_sys::*;

const GOOD: u32 = 0;
/// Fails QUERY_STOP (a legal veto).
const VETOES_QUERY_STOP: u32 = 1;
/// Fails STOP.
const FAILS_STOP: u32 = 2;
/// Fails CANCEL_STOP.
const FAILS_CANCEL_STOP: u32 = 3;
/// Fails CANCEL_REMOVE.
const FAILS_CANCEL_REMOVE: u32 = 4;
/// Fails the second START (the restart after a rebalance).
const FAILS_RESTART: u32 = 5;
/// Waits in CANCEL_REMOVE until the test opens the gate.
const BLOCKS_CANCEL_REMOVE: u32 = 6;
/// Waits in CANCEL_STOP until the test opens the gate.
const BLOCKS_CANCEL_STOP: u32 = 7;

const MN_START: u8 = IRP_MN_START_DEVICE as u8;
const MN_QUERY_REMOVE: u8 = IRP_MN_QUERY_REMOVE_DEVICE as u8;
const MN_REMOVE: u8 = IRP_MN_REMOVE_DEVICE as u8;
const MN_CANCEL_REMOVE: u8 = IRP_MN_CANCEL_REMOVE_DEVICE as u8;
const MN_STOP: u8 = IRP_MN_STOP_DEVICE as u8;
const MN_QUERY_STOP: u8 = IRP_MN_QUERY_STOP_DEVICE as u8;
const MN_CANCEL_STOP: u8 = IRP_MN_CANCEL_STOP_DEVICE as u8;
const MN_RELATIONS: u8 = IRP_MN_QUERY_DEVICE_RELATIONS as u8;
const MN_SURPRISE: u8 = IRP_MN_SURPRISE_REMOVAL as u8;
const MN_DEVICE_STATE: u8 = IRP_MN_QUERY_PNP_DEVICE_STATE as u8;

/// A one-shot gate a dispatch routine waits at, for the test to look at the devnode meanwhile.
#[derive(Default)]
struct Gate {
    state: Mutex<(bool, bool)>, // (entered, open)
    cv: Condvar,
}

impl Gate {
    const fn new() -> Self {
        Self {
            state: Mutex::new((false, false)),
            cv: Condvar::new(),
        }
    }
    fn wait_here(&self) {
        let mut s = self.state.lock().unwrap();
        s.0 = true;
        self.cv.notify_all();
        let (_s, timeout) = self
            .cv
            .wait_timeout_while(s, Duration::from_secs(10), |s| !s.1)
            .unwrap();
        assert!(!timeout.timed_out(), "the test never opened the gate");
    }
    fn wait_entered(&self) {
        let s = self.state.lock().unwrap();
        let (_s, timeout) = self
            .cv
            .wait_timeout_while(s, Duration::from_secs(10), |s| !s.0)
            .unwrap();
        assert!(!timeout.timed_out(), "the driver never reached the gate");
    }
    fn open(&self) {
        self.state.lock().unwrap().1 = true;
        self.cv.notify_all();
    }
}

static CANCEL_REMOVE_GATE: Gate = Gate::new();
static CANCEL_STOP_GATE: Gate = Gate::new();

#[repr(C)]
struct Ext {
    lower: PDEVICE_OBJECT,
    lock: IO_REMOVE_LOCK,
    /// QUERY_STOP succeeded or STOP came: reads are held until START or CANCEL_STOP.
    holding: bool,
    /// Held reads, oldest first (at most 4).
    held: [PIRP; 4],
    held_count: usize,
    /// How many STARTs the driver has seen.
    starts: u32,
    /// The PNP_DEVICE_STATE flags QUERY_PNP_DEVICE_STATE reports (0: not handled).
    report_flags: u64,
    removed: bool,
}

unsafe fn ext(device: PDEVICE_OBJECT) -> *mut Ext {
    unsafe { (*device).DeviceExtension.cast() }
}

/// A read completes with its buffer full of 'p'.
unsafe fn complete_read(irp: PIRP) -> NTSTATUS {
    unsafe {
        let n = (*IoGetCurrentIrpStackLocation(irp)).Parameters.Read.Length as usize;
        std::slice::from_raw_parts_mut((*irp).AssociatedIrp.SystemBuffer.cast::<u8>(), n).fill(b'p');
        complete(irp, STATUS_SUCCESS, n as u64)
    }
}

/// Stops holding and completes the held reads in order (FIFO).
unsafe fn drain(e: *mut Ext) {
    unsafe {
        (*e).holding = false;
        for i in 0..(*e).held_count {
            let irp = (*e).held[i];
            complete_read(irp);
            IoReleaseRemoveLock(&mut (*e).lock, irp.cast());
        }
        (*e).held_count = 0;
    }
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
        IoInitializeRemoveLock(&mut (*e).lock, u32::from_le_bytes(*b"PnpS"), 0, 0);
        (*e).lower = IoAttachDeviceToDeviceStack(fdo, pdo);
        (*fdo).Flags |= DO_BUFFERED_IO;
        (*fdo).Flags &= !DO_DEVICE_INITIALIZING;
    }
    STATUS_SUCCESS
}

unsafe extern "C-unwind" fn dispatch_pnp<const M: u32>(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    unsafe {
        let e = ext(device);
        let tag = irp as PVOID;
        let status = IoAcquireRemoveLock(&mut (*e).lock, tag);
        if !NT_SUCCESS(status) {
            return complete(irp, status, 0);
        }
        let lower = (*e).lower;
        let minor = u32::from((*IoGetCurrentIrpStackLocation(irp)).MinorFunction);
        let fail = match minor {
            IRP_MN_QUERY_STOP_DEVICE => M == VETOES_QUERY_STOP,
            IRP_MN_STOP_DEVICE => M == FAILS_STOP,
            IRP_MN_CANCEL_STOP_DEVICE => M == FAILS_CANCEL_STOP,
            IRP_MN_CANCEL_REMOVE_DEVICE => M == FAILS_CANCEL_REMOVE,
            _ => false,
        };
        if fail {
            let status = complete(irp, STATUS_UNSUCCESSFUL, 0);
            IoReleaseRemoveLock(&mut (*e).lock, tag);
            return status;
        }
        let status = match minor {
            IRP_MN_START_DEVICE | IRP_MN_CANCEL_STOP_DEVICE | IRP_MN_CANCEL_REMOVE_DEVICE => {
                // Handled on the way up.
                if minor == IRP_MN_CANCEL_REMOVE_DEVICE && M == BLOCKS_CANCEL_REMOVE {
                    CANCEL_REMOVE_GATE.wait_here();
                }
                if minor == IRP_MN_CANCEL_STOP_DEVICE && M == BLOCKS_CANCEL_STOP {
                    CANCEL_STOP_GATE.wait_here();
                }
                let mut status = forward_and_wait(lower, irp);
                if minor == IRP_MN_START_DEVICE {
                    (*e).starts += 1;
                    if M == FAILS_RESTART && (*e).starts > 1 {
                        status = STATUS_UNSUCCESSFUL;
                    }
                }
                if NT_SUCCESS(status) && minor != IRP_MN_CANCEL_REMOVE_DEVICE {
                    drain(e);
                }
                complete(irp, status, 0)
            }
            IRP_MN_QUERY_PNP_DEVICE_STATE if (*e).report_flags != 0 => {
                // Handled on the way down (§3.1): OR in the flags, succeed, pass down.
                (*irp).IoStatus.Information |= (*e).report_flags;
                (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
                IoSkipCurrentIrpStackLocation(irp);
                IoCallDriver(lower, irp)
            }
            IRP_MN_QUERY_STOP_DEVICE | IRP_MN_STOP_DEVICE | IRP_MN_QUERY_REMOVE_DEVICE | IRP_MN_SURPRISE_REMOVAL => {
                if minor == IRP_MN_QUERY_STOP_DEVICE || minor == IRP_MN_STOP_DEVICE {
                    (*e).holding = true;
                }
                if minor == IRP_MN_SURPRISE_REMOVAL {
                    (*e).removed = true;
                }
                (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
                IoSkipCurrentIrpStackLocation(irp);
                IoCallDriver(lower, irp)
            }
            IRP_MN_REMOVE_DEVICE => {
                (*e).removed = true;
                (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
                IoSkipCurrentIrpStackLocation(irp);
                let status = IoCallDriver(lower, irp);
                IoReleaseRemoveLockAndWait(&mut (*e).lock, tag);
                IoDetachDevice(lower);
                IoDeleteDevice(device);
                return status;
            }
            _ => {
                IoSkipCurrentIrpStackLocation(irp);
                IoCallDriver(lower, irp)
            }
        };
        IoReleaseRemoveLock(&mut (*e).lock, tag);
        status
    }
}

/// Create, close and cleanup succeed; a read completes at once, or is held while stopping or
/// stopped (under its remove-lock hold, released when it completes).
unsafe extern "C-unwind" fn dispatch_io(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    unsafe {
        let e = ext(device);
        let tag = irp as PVOID;
        let status = IoAcquireRemoveLock(&mut (*e).lock, tag);
        if !NT_SUCCESS(status) {
            return complete(irp, status, 0);
        }
        let major = u32::from((*IoGetCurrentIrpStackLocation(irp)).MajorFunction);
        if (*e).removed && major != IRP_MJ_CLOSE && major != IRP_MJ_CLEANUP {
            let status = complete(irp, STATUS_NO_SUCH_DEVICE, 0);
            IoReleaseRemoveLock(&mut (*e).lock, tag);
            return status;
        }
        if major == IRP_MJ_READ && (*e).holding && (*e).held_count < 4 {
            IoMarkIrpPending(irp);
            (*e).held[(*e).held_count] = irp;
            (*e).held_count += 1;
            return STATUS_PENDING;
        }
        let status = if major == IRP_MJ_READ {
            complete_read(irp)
        } else {
            complete(irp, STATUS_SUCCESS, 0)
        };
        IoReleaseRemoveLock(&mut (*e).lock, tag);
        status
    }
}

unsafe extern "C-unwind" fn unload(_driver: PDRIVER_OBJECT) {}

unsafe extern "C-unwind" fn entry<const M: u32>(driver: PDRIVER_OBJECT, _path: PUNICODE_STRING) -> NTSTATUS {
    unsafe {
        (*(*driver).DriverExtension).AddDevice = Some(add_device);
        (*driver).MajorFunction[IRP_MJ_PNP as usize] = Some(dispatch_pnp::<M>);
        for m in [IRP_MJ_CREATE, IRP_MJ_CLOSE, IRP_MJ_CLEANUP, IRP_MJ_READ] {
            (*driver).MajorFunction[m as usize] = Some(dispatch_io);
        }
        (*driver).DriverUnload = Some(unload);
    }
    STATUS_SUCCESS
}

/// The minors sent after the first `from`.
fn minors_since(node: &wdm_sim::DeviceNode<'_>, from: usize) -> Vec<u8> {
    node.sent()[from..].iter().map(|s| s.0).collect()
}

/// A started devnode with the fixture variant `M` on it.
macro_rules! started {
    ($kernel:ident, $driver:ident, $node:ident, $m:expr) => {
        let $kernel = Kernel::new();
        let $driver = $kernel.load("pnpseq", entry::<{ $m }>).unwrap();
        let $node = $kernel.add_root_device(r"ROOT\PNPSEQ");
        assert_eq!($node.add_driver(&$driver), STATUS_SUCCESS);
        assert_eq!($node.start(), STATUS_SUCCESS);
    };
}

#[test]
fn a_rebalance_stops_holds_io_restarts_and_drains_it_in_order() {
    started!(kernel, driver, node, GOOD);
    let file = kernel.open_device(&node).unwrap();
    let first = node.sent().len();

    assert_eq!(node.query_stop_and_stop(), Ok(STATUS_SUCCESS));
    assert_eq!(node.state(), NodeState::Stopped);
    assert_eq!(minors_since(&node, first), [MN_QUERY_STOP, MN_STOP]);
    // Stopped: I/O reaches the driver, which holds it; creates too are let through.
    let a = file.start_read(2);
    let b = file.start_read(3);
    assert_eq!((a.returned, b.returned), (STATUS_PENDING, STATUS_PENDING));
    kernel.open_device(&node).unwrap().close();
    assert!(!a.is_done());

    assert_eq!(node.restart(), STATUS_SUCCESS);
    assert_eq!(node.state(), NodeState::Started);
    // The restart: START and BusRelations; no QUERY_CAPABILITIES, no QUERY_PNP_DEVICE_STATE,
    // no unknown-minor probe.
    assert_eq!(
        minors_since(&node, first),
        [MN_QUERY_STOP, MN_STOP, MN_START, MN_RELATIONS]
    );
    let (a, b) = (a.wait(), b.wait());
    assert_eq!(
        (a.status, a.data(), b.data()),
        (STATUS_SUCCESS, &b"pp"[..], &b"ppp"[..])
    );

    let again = node.sent().len();
    assert_eq!(node.rebalance(), Ok(STATUS_SUCCESS));
    assert_eq!(
        minors_since(&node, again),
        [MN_QUERY_STOP, MN_STOP, MN_START, MN_RELATIONS]
    );
    file.close();
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_vetoed_query_stop_is_cancelled_and_the_device_stays_started() {
    started!(kernel, driver, node, VETOES_QUERY_STOP);
    let first = node.sent().len();
    assert_eq!(node.query_stop_and_stop(), Err(STATUS_UNSUCCESSFUL));
    assert_eq!(minors_since(&node, first), [MN_QUERY_STOP, MN_CANCEL_STOP]);
    assert_eq!(node.sent().last(), Some(&(MN_CANCEL_STOP, STATUS_SUCCESS)));
    assert_eq!(node.state(), NodeState::Started);
    assert_eq!(node.rebalance(), Err(STATUS_UNSUCCESSFUL));
    assert_eq!(node.query_stop_then_cancel(), Err(STATUS_UNSUCCESSFUL));
    assert!(kernel.reports().is_empty(), "QUERY_STOP may fail");
    kernel.open_device(&node).unwrap().close();
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn query_stop_then_cancel_sends_cancel_stop_and_drains_held_io() {
    started!(kernel, driver, node, GOOD);
    let file = kernel.open_device(&node).unwrap();
    let first = node.sent().len();
    assert_eq!(node.query_stop_then_cancel(), Ok(STATUS_SUCCESS));
    assert_eq!(minors_since(&node, first), [MN_QUERY_STOP, MN_CANCEL_STOP]);
    assert_eq!(node.state(), NodeState::Started);
    assert_eq!(file.read(1).data(), b"p");
    file.close();
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn query_remove_then_cancel_sends_cancel_remove_and_the_device_stays() {
    started!(kernel, driver, node, GOOD);
    let first = node.sent().len();
    assert_eq!(node.query_remove_then_cancel(), Ok(STATUS_SUCCESS));
    assert_eq!(minors_since(&node, first), [MN_QUERY_REMOVE, MN_CANCEL_REMOVE]);
    assert_eq!(node.state(), NodeState::Started);
    let file = kernel.open_device(&node).unwrap();
    // With a handle open the stack's own answer is a veto: CANCEL_REMOVE all the same.
    let again = node.sent().len();
    assert_eq!(node.query_remove_then_cancel(), Err(STATUS_DEVICE_BUSY));
    assert_eq!(minors_since(&node, again), [MN_QUERY_REMOVE, MN_CANCEL_REMOVE]);
    file.close();
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_never_started_device_can_be_query_removed_and_removed() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnpseq", entry::<GOOD>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPSEQ");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    assert_eq!(node.query_remove_then_cancel(), Ok(STATUS_SUCCESS));
    assert_eq!(
        node.state(),
        NodeState::DriversAdded,
        "CANCEL_REMOVE restores the state before the query"
    );
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    assert_eq!(
        minors_since(&node, 0),
        [MN_QUERY_REMOVE, MN_CANCEL_REMOVE, MN_QUERY_REMOVE, MN_REMOVE]
    );
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn creates_fail_while_query_removed() {
    started!(kernel, driver, node, BLOCKS_CANCEL_REMOVE);
    std::thread::scope(|s| {
        let cancel = s.spawn(|| node.query_remove_then_cancel());
        CANCEL_REMOVE_GATE.wait_entered();
        assert_eq!(node.state(), NodeState::QueryRemoved);
        assert_eq!(kernel.open_device(&node).err(), Some(STATUS_NO_SUCH_DEVICE));
        CANCEL_REMOVE_GATE.open();
        assert_eq!(cancel.join().unwrap(), Ok(STATUS_SUCCESS));
    });
    kernel.open_device(&node).unwrap().close();
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn creates_reach_the_driver_while_query_stopped() {
    started!(kernel, driver, node, BLOCKS_CANCEL_STOP);
    std::thread::scope(|s| {
        let cancel = s.spawn(|| node.query_stop_then_cancel());
        CANCEL_STOP_GATE.wait_entered();
        assert_eq!(node.state(), NodeState::QueryStopped);
        kernel.open_device(&node).unwrap().close();
        CANCEL_STOP_GATE.open();
        assert_eq!(cancel.join().unwrap(), Ok(STATUS_SUCCESS));
    });
    assert_eq!(node.state(), NodeState::Started);
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_failed_restart_is_a_surprise_removal() {
    started!(kernel, driver, node, FAILS_RESTART);
    let file = kernel.open_device(&node).unwrap();
    let first = node.sent().len();
    assert_eq!(node.rebalance(), Ok(STATUS_UNSUCCESSFUL));
    assert_eq!(
        minors_since(&node, first),
        [MN_QUERY_STOP, MN_STOP, MN_START, MN_SURPRISE]
    );
    assert_eq!(node.state(), NodeState::SurpriseRemoved);
    assert_eq!(file.read(1).status, STATUS_NO_SUCH_DEVICE);
    file.close();
    assert_eq!(node.sent().last(), Some(&(MN_REMOVE, STATUS_SUCCESS)));
    assert_eq!(node.state(), NodeState::Deleted);
    driver.unload();
    kernel.assert_clean();
}

/// A must-succeed IRP that fails: 0xC4/0x43006 (PnpRemove), a bug check.
fn assert_must_succeed(bug: wdm_sim::BugCheck, minor: u8) {
    assert_eq!(bug.0.rule, Rule::PnpMustSucceed);
    assert_eq!(bug.0.rule.stop_code(), StopCode::sub(0xC4, 0x43006));
    assert_eq!(bug.0.parameters[1], usize::from(minor), "{}", bug.0);
}

#[test]
fn failing_stop_is_0xc4_0x43006() {
    started!(kernel, _driver, node, FAILS_STOP);
    let bug = kernel.catch(|| node.query_stop_and_stop()).unwrap_err();
    assert_must_succeed(bug, MN_STOP);
}

#[test]
fn failing_cancel_stop_is_0xc4_0x43006() {
    started!(kernel, _driver, node, FAILS_CANCEL_STOP);
    let bug = kernel.catch(|| node.query_stop_then_cancel()).unwrap_err();
    assert_must_succeed(bug, MN_CANCEL_STOP);
}

#[test]
fn failing_cancel_remove_is_0xc4_0x43006() {
    started!(kernel, _driver, node, FAILS_CANCEL_REMOVE);
    let bug = kernel.catch(|| node.query_remove_then_cancel()).unwrap_err();
    assert_must_succeed(bug, MN_CANCEL_REMOVE);
}

#[test]
#[should_panic(expected = "restart on a devnode that is Started")]
fn restart_needs_a_stopped_device() {
    started!(kernel, _driver, node, GOOD);
    node.restart();
}

/// The flags the fixture's QUERY_PNP_DEVICE_STATE handler reports from now on.
fn report(node: &wdm_sim::DeviceNode<'_>, flags: u32) {
    unsafe { (*ext(node.stack()[0])).report_flags = u64::from(flags) };
}

#[test]
fn invalidate_device_state_is_queued_and_a_failed_device_is_surprise_removed() {
    started!(kernel, driver, node, GOOD);
    assert_eq!(
        node.device_state(),
        None,
        "the PDO leaves the first query NOT_SUPPORTED"
    );
    report(&node, PNP_DEVICE_FAILED);
    let pdo = node.pdo() as usize;
    let first = node.sent().len();
    kernel.run(|| unsafe { IoInvalidateDeviceState(pdo as PDEVICE_OBJECT) });
    assert_eq!(node.sent().len(), first, "only queued");
    assert_eq!(kernel.run_pnp_actions(), 1);
    assert_eq!(minors_since(&node, first), [MN_DEVICE_STATE, MN_SURPRISE, MN_REMOVE]);
    assert_eq!(node.device_state(), Some(PNP_DEVICE_FAILED));
    assert_eq!(node.state(), NodeState::Deleted);
    assert_eq!(kernel.run_pnp_actions(), 0);
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_device_failed_with_changed_requirements_is_rebalanced() {
    started!(kernel, driver, node, GOOD);
    report(&node, PNP_DEVICE_FAILED | PNP_DEVICE_RESOURCE_REQUIREMENTS_CHANGED);
    let pdo = node.pdo() as usize;
    let first = node.sent().len();
    kernel.run(|| unsafe { IoInvalidateDeviceState(pdo as PDEVICE_OBJECT) });
    assert_eq!(kernel.run_pnp_actions(), 1);
    assert_eq!(
        minors_since(&node, first),
        [MN_DEVICE_STATE, MN_QUERY_STOP, MN_STOP, MN_START, MN_RELATIONS]
    );
    assert_eq!(node.state(), NodeState::Started);
    // NOT_DISABLEABLE is recorded and changes nothing.
    report(&node, PNP_DEVICE_NOT_DISABLEABLE);
    let again = node.sent().len();
    kernel.run(|| unsafe { IoInvalidateDeviceState(pdo as PDEVICE_OBJECT) });
    assert_eq!(kernel.run_pnp_actions(), 1);
    assert_eq!(minors_since(&node, again), [MN_DEVICE_STATE]);
    assert_eq!(node.device_state(), Some(PNP_DEVICE_NOT_DISABLEABLE));
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_device_reporting_removed_at_its_first_start_is_surprise_removed() {
    let kernel = Kernel::new();
    let driver = kernel.load("pnpseq", entry::<GOOD>).unwrap();
    let node = kernel.add_root_device(r"ROOT\PNPSEQ");
    assert_eq!(node.add_driver(&driver), STATUS_SUCCESS);
    report(&node, PNP_DEVICE_REMOVED);
    assert_eq!(node.start(), STATUS_SUCCESS, "START itself succeeded");
    let tail: Vec<u8> = node.sent().iter().rev().take(2).map(|s| s.0).collect();
    assert_eq!(tail, [MN_REMOVE, MN_SURPRISE]);
    assert_eq!(node.state(), NodeState::Deleted);
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn invalidate_device_relations_queues_a_bus_relations_query() {
    started!(kernel, driver, node, GOOD);
    let pdo = node.pdo() as usize;
    let first = node.sent().len();
    kernel.run(|| unsafe {
        IoInvalidateDeviceRelations(pdo as PDEVICE_OBJECT, _DEVICE_RELATION_TYPE::BusRelations);
        IoInvalidateDeviceRelations(pdo as PDEVICE_OBJECT, _DEVICE_RELATION_TYPE::RemovalRelations);
    });
    assert_eq!(kernel.run_pnp_actions(), 2);
    assert_eq!(minors_since(&node, first), [MN_RELATIONS]);
    assert_eq!(node.query_remove_and_remove(), Ok(STATUS_SUCCESS));
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn invalidating_something_that_is_not_a_pdo_is_0xca_0x2() {
    started!(kernel, _driver, node, GOOD);
    let fdo = node.stack()[0] as usize;
    let bug = kernel
        .catch(|| kernel.run(|| unsafe { IoInvalidateDeviceState(fdo as PDEVICE_OBJECT) }))
        .unwrap_err()
        .0;
    assert_eq!(bug.rule, Rule::PnpInvalidPdo);
    assert_eq!(bug.rule.stop_code(), StopCode::sub(0xCA, 0x2));
    assert_eq!(bug.parameters[1], fdo);
}
