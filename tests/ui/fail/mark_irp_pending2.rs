// SDV MarkIrpPending2: STATUS_PENDING only for an IRP marked pending.
use wdm::{Irp, Outcome, Pended};

fn handler<'irp>(irp: Irp<'irp>) -> Outcome<'irp> {
    let _ = irp;
    Outcome::Pending(Pended { _brand: std::marker::PhantomData })
}

fn main() {
    let _ = handler;
}
