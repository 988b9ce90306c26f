// SDV DoubleCompletion: completing consumes the IRP.
use wdm::{Irp, Outcome, Status, Unlocked};

fn handler<'irp>(irp: Irp<'irp>, cx: &Unlocked) -> Outcome<'irp> {
    let _first = irp.complete(Status::SUCCESS, cx);
    irp.complete(Status::SUCCESS, cx).into()
}

fn main() {
    let _ = handler;
}
