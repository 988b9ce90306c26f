// SDV IrpProcessingComplete: STATUS_SUCCESS only for an IRP completed (or forwarded).
use wdm::{Irp, Outcome, Status};

fn handler<'irp>(irp: Irp<'irp>) -> Outcome<'irp> {
    let _ = irp;
    Status::SUCCESS.into()
}

fn main() {
    let _ = handler;
}
