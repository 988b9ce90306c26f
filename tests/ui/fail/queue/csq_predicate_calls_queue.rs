// A `CsqQueue` predicate runs in the framework's PeekNextIrp, inside the system's
// IoCsqRemoveNextIrp, holding the queue's lock: calling back into the queue would re-acquire it
// (0xF: a deadlock). Every queue operation needs the `Unlocked` proof, which the predicate's
// call borrows exclusively.
use wdm::{CsqQueue, PendingIrp, Unlocked};

fn self_deadlock(queue: &CsqQueue, cx: &mut Unlocked) -> Option<PendingIrp> {
    queue.remove_first(|_| queue.is_empty(cx), cx)
}

fn main() {
    let _ = self_deadlock;
}
