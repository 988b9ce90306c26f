//! IRQL, per simulated processor (thread).

use std::cell::Cell;

use wdm_sys::KIRQL;

use crate::kernel::{IRQL, current};
use crate::report::Rule;

/// The current processor's IRQL.
pub(crate) fn get() -> KIRQL {
    IRQL.with(Cell::get)
}

/// Sets the current processor's IRQL (the simulator's own transitions).
pub(crate) fn set(irql: KIRQL) {
    IRQL.with(|i| i.set(irql));
}

/// `KeGetCurrentIrql`.
#[unsafe(no_mangle)]
pub extern "C-unwind" fn KeGetCurrentIrql() -> KIRQL {
    get()
}

/// `KfRaiseIrql`: raising to a lower IRQL is 0xC4/0x30 under Driver Verifier.
#[unsafe(no_mangle)]
pub extern "C-unwind" fn KfRaiseIrql(new: KIRQL) -> KIRQL {
    let old = get();
    if new < old {
        current().report(
            Rule::IrqlNotRaise,
            "KfRaiseIrql",
            None,
            [0x30, usize::from(old), usize::from(new), 0],
            format!("raising IRQL from {old} to {new}, which is lower"),
        );
    }
    set(new);
    old
}

/// `KeLowerIrql`: lowering to a higher IRQL is 0xC4/0x31 under Driver Verifier.
#[unsafe(no_mangle)]
pub extern "C-unwind" fn KeLowerIrql(new: KIRQL) {
    let old = get();
    if new > old {
        current().report(
            Rule::IrqlNotLower,
            "KeLowerIrql",
            None,
            [0x31, usize::from(old), usize::from(new), 0],
            format!("lowering IRQL from {old} to {new}, which is higher"),
        );
    }
    set(new);
}
