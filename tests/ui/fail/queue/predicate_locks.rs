// A queue's predicate runs under the queue's spin lock: it cannot take another lock (lock-order
// deadlocks) or complete anything, because the call borrows the `Unlocked` proof.
use wdm::{IrpQueue, PendingIrp, SpinLock, Unlocked};

fn next_allowed(queue: &IrpQueue, limit: &SpinLock<u32>, cx: &mut Unlocked) -> Option<PendingIrp> {
    queue.remove_first(|_| limit.with(cx, |l| *l > 0), cx)
}

fn main() {
    let _ = next_allowed;
}
