// SDV MarkIrpPending: once marked pending, the dispatch routine cannot return anything but
// STATUS_PENDING (here: a completion).
use wdm::{Irp, Outcome, Status};

fn handler<'irp>(irp: Irp<'irp>) -> Outcome<'irp> {
    let (pending, _pended) = irp.mark_pending();
    pending.complete(Status::SUCCESS);
    irp.complete(Status::SUCCESS).into()
}

fn main() {
    let _ = handler;
}
