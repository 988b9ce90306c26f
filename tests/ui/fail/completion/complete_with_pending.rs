// SDV CompleteRequestStatusCheck (hostile review row 5): STATUS_PENDING is not a completion
// status; `Status::PENDING` is a `Pending`, which no completion method accepts.
use wdm::{Irp, Outcome, Status, Unlocked};

fn handler<'irp>(irp: Irp<'irp>, cx: &Unlocked) -> Outcome<'irp> {
    irp.complete(Status::PENDING, cx).into()
}

fn main() {
    let _ = handler;
}
