// The twins: complete once; mark pending and return the proof; forward.
use wdm::{Irp, LowerDevice, Outcome, PendingIrp, Status, Unlocked};

fn completes<'irp>(irp: Irp<'irp>, cx: &Unlocked) -> Outcome<'irp> {
    irp.complete_with(Status::SUCCESS, 4, cx).into()
}

fn pends<'irp>(irp: Irp<'irp>, queue: &mut Vec<PendingIrp>) -> Outcome<'irp> {
    let (pending, pended) = irp.mark_pending();
    queue.push(pending);
    pended.into()
}

fn forwards<'irp, D>(irp: Irp<'irp>, lower: &LowerDevice<D>, cx: &Unlocked) -> Outcome<'irp> {
    irp.forward(lower, cx)
}

fn main() {
    let _ = (completes, pends, forwards::<()>);
}
