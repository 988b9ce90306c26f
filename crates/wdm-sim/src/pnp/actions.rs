//! The PnP manager's action queue (pnp-power.md §2.0, §2.1 step 13, §2.4):
//! IoInvalidateDeviceState and IoInvalidateDeviceRelations only queue an action, which the
//! manager's one worker runs later, in order; here the test runs the queue with
//! [`crate::Kernel::run_pnp_actions`], standing in for that worker. Decision (⚠ §2.0): ReactOS
//! answers IoInvalidateDeviceState synchronously; the simulator queues it, as Windows does.
//!
//! - A device-state action sends QUERY_PNP_DEVICE_STATE to a started devnode (any other is
//!   skipped) and acts on the answer as after START: PNP_DEVICE_REMOVED, or PNP_DEVICE_FAILED
//!   without PNP_DEVICE_RESOURCE_REQUIREMENTS_CHANGED, is a surprise removal (§2.4);
//!   FAILED with RESOURCE_REQUIREMENTS_CHANGED a rebalance (§2.1 step 13). The answer counts only
//!   if the IRP succeeded (a stack that does not handle it leaves NOT_SUPPORTED).
//! - A relations action for BusRelations sends QUERY_DEVICE_RELATIONS(BusRelations) to a
//!   started devnode (children are not modelled: a list returned is freed); the other relation
//!   types are queued and dropped (not modelled).
//! - Both routines take only a PDO: anything else is 0xCA/0x2 (PNP_DETECTED_FATAL_ERROR,
//!   invalid PDO), fatal.

use wdm_sys::{DEVICE_RELATION_TYPE, PDEVICE_OBJECT};

use super::NodeState;
use crate::kernel::{State, current, lock};
use crate::report::Rule;

/// PNP_DEVICE_FAILED.
pub(crate) const FAILED: usize = 0x4;
/// PNP_DEVICE_REMOVED.
pub(crate) const REMOVED: usize = 0x8;
/// PNP_DEVICE_RESOURCE_REQUIREMENTS_CHANGED.
pub(crate) const REQUIREMENTS_CHANGED: usize = 0x10;

/// What a queued action does.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Action {
    /// IoInvalidateDeviceState: QUERY_PNP_DEVICE_STATE.
    State,
    /// IoInvalidateDeviceRelations of this type.
    Relations(DEVICE_RELATION_TYPE),
}

/// What the manager does about a devnode's PNP_DEVICE_STATE answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Keep,
    Gone,
    Rebalance,
}

/// The §2.1 step 13 rule.
pub(crate) fn verdict(flags: usize) -> Verdict {
    if flags & REMOVED != 0 || (flags & FAILED != 0 && flags & REQUIREMENTS_CHANGED == 0) {
        Verdict::Gone
    } else if flags & FAILED != 0 {
        Verdict::Rebalance
    } else {
        Verdict::Keep
    }
}

/// The devnode whose live PDO `device` is, or 0xCA/0x2.
fn node_of_pdo(k: &State, routine: &'static str, device: PDEVICE_OBJECT) -> Option<usize> {
    let found = {
        let pnp = lock(&k.pnp);
        pnp.by_pdo
            .get(&(device as usize))
            .copied()
            .filter(|&i| pnp.nodes[i].state != NodeState::Deleted)
    };
    if found.is_none() {
        k.report(
            Rule::PnpInvalidPdo,
            routine,
            None,
            [0x2, device as usize, 0, 0],
            format!("{routine} called with {device:p}, which is not a PDO"),
        );
    }
    found
}

/// `IoInvalidateDeviceState`: queues a QUERY_PNP_DEVICE_STATE for the device.
///
/// # Safety
/// Kernel routine: `pdo` must be a PDO.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoInvalidateDeviceState(pdo: PDEVICE_OBJECT) {
    let k = current();
    if let Some(i) = node_of_pdo(k, "IoInvalidateDeviceState", pdo) {
        lock(&k.pnp).actions.push_back((i, Action::State));
    }
}

/// `IoInvalidateDeviceRelations`: queues a relations query for the device.
///
/// # Safety
/// Kernel routine: `device` must be a PDO.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoInvalidateDeviceRelations(device: PDEVICE_OBJECT, kind: DEVICE_RELATION_TYPE) {
    let k = current();
    if let Some(i) = node_of_pdo(k, "IoInvalidateDeviceRelations", device) {
        lock(&k.pnp).actions.push_back((i, Action::Relations(kind)));
    }
}

/// Takes the next queued action.
pub(crate) fn next(k: &State) -> Option<(usize, Action)> {
    lock(&k.pnp).actions.pop_front()
}
