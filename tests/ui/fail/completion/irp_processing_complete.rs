// SDV IrpProcessingComplete: STATUS_SUCCESS only for an IRP completed (or forwarded).
use wdm::{Irp, Outcome, Status, Unlocked};

fn handler<'irp>(irp: Irp<'irp>, cx: &Unlocked) -> Outcome<'irp> {
    let _ = irp;
    Status::SUCCESS.into()
}

fn main() {
    let _ = handler;
}
