// Hostile review row 8: a predicate that calls back into the queue would re-acquire the queue's
// held spin lock (0xF: a deadlock). Every queue operation needs the `Unlocked` proof, which the
// predicate's call borrows exclusively.
use wdm::{IrpQueue, PendingIrp, Unlocked};

fn self_deadlock(queue: &IrpQueue, cx: &mut Unlocked) -> Option<PendingIrp> {
    queue.remove_first(|_| queue.is_empty(cx), cx)
}

fn main() {
    let _ = self_deadlock;
}
