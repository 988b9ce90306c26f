// SDV DoubleCompletion: completing consumes the IRP.
use wdm::{Irp, Outcome, Status};

fn handler<'irp>(irp: Irp<'irp>) -> Outcome<'irp> {
    let _first = irp.complete(Status::SUCCESS);
    irp.complete(Status::SUCCESS).into()
}

fn main() {
    let _ = handler;
}
