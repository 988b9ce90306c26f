// An outcome proves something about one IRP: it cannot be returned for another.
use wdm::{Irp, Outcome, Status};

fn handler<'a, 'b>(mine: Irp<'a>, other: Irp<'b>) -> Outcome<'a> {
    let _ = mine;
    other.complete(Status::SUCCESS).into()
}

fn main() {
    let _ = handler;
}
