// The twin of the `CsqQueue` compile-fail cases: the driver's lock is read before, the queue is
// used outside every lock, and the predicate only looks at the queued IRP.
use wdm::{CsqQueue, Irp, Outcome, PendingIrp, SpinLock, Status, Unlocked};

fn next_allowed(queue: &CsqQueue<u32>, limit: &SpinLock<u32>, cx: &mut Unlocked) -> Option<PendingIrp> {
    let limit = limit.with(cx, |l| *l);
    if queue.is_empty(cx) {
        return None;
    }
    queue.remove_first(|q| q.context() < limit, cx)
}

fn park<'irp>(queue: &CsqQueue<u32>, parked: &SpinLock<u32>, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    let ticket = parked.with(cx, |n| {
        *n += 1;
        *n
    }); // released
    let (pending, pended) = irp.mark_pending();
    queue.insert_with(pending, ticket, cx);
    pended.into()
}

fn cleanup<'irp>(queue: &CsqQueue<u32>, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    queue.cancel_file(irp.file_object(), cx);
    irp.complete(Status::SUCCESS, cx).into()
}

fn main() {
    let _ = (next_allowed, park, cleanup);
}
