// A `CsqQueue` predicate cannot take another lock (a lock-order deadlock with the queue's) or
// complete anything: the call borrows the `Unlocked` proof.
use wdm::{CsqQueue, PendingIrp, SpinLock, Unlocked};

fn next_allowed(queue: &CsqQueue<u32>, limit: &SpinLock<u32>, cx: &mut Unlocked) -> Option<PendingIrp> {
    queue.remove_first(|q| limit.with(cx, |l| q.context() < *l), cx)
}

fn main() {
    let _ = next_allowed;
}
