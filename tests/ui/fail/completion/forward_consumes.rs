// Forwarding hands the IRP to the lower driver: it cannot be completed afterwards (SDV
// PendedCompletedRequest3: don't complete an IRP that is pending in a lower driver).
use wdm::{Irp, LowerDevice, Outcome, Status, Unlocked};

fn handler<'irp, D>(irp: Irp<'irp>, lower: &LowerDevice<D>, cx: &Unlocked) -> Outcome<'irp> {
    let _forwarded = irp.forward(lower, cx);
    irp.complete(Status::SUCCESS, cx).into()
}

fn main() {
    let _ = handler::<()>;
}
