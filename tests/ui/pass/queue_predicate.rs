// The twin: read what the predicate needs before, under its own lock; the predicate only looks
// at the queued IRP.
use wdm::{IrpQueue, PendingIrp, SpinLock, Unlocked};

fn next_allowed(queue: &IrpQueue<u32>, limit: &SpinLock<u32>, cx: &mut Unlocked) -> Option<PendingIrp> {
    let limit = limit.with(cx, |l| *l);
    if queue.is_empty(cx) {
        return None;
    }
    queue.remove_first(|q| q.context() < limit, cx)
}

fn main() {
    let _ = next_allowed;
}
