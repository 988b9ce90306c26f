// SDV MarkIrpPending: once marked pending, the dispatch routine cannot return anything but
// STATUS_PENDING (here: a completion).
use wdm::{Irp, Outcome, Status, Unlocked};

fn handler<'irp>(irp: Irp<'irp>, cx: &Unlocked) -> Outcome<'irp> {
    let (pending, _pended) = irp.mark_pending();
    pending.complete(Status::SUCCESS, cx);
    irp.complete(Status::SUCCESS, cx).into()
}

fn main() {
    let _ = handler;
}
