// An outcome proves something about one IRP: it cannot be returned for another.
use wdm::{Irp, Outcome, Status, Unlocked};

fn handler<'a, 'b>(mine: Irp<'a>, other: Irp<'b>, cx: &Unlocked) -> Outcome<'a> {
    let _ = mine;
    other.complete(Status::SUCCESS, cx).into()
}

fn main() {
    let _ = handler;
}
