// SDV MarkIrpPending2: STATUS_PENDING only for an IRP marked pending.
use wdm::{Irp, Outcome, Pended, Unlocked};

fn handler<'irp>(irp: Irp<'irp>, cx: &Unlocked) -> Outcome<'irp> {
    let _ = irp;
    Outcome::Pending(Pended { _brand: std::marker::PhantomData })
}

fn main() {
    let _ = handler;
}
