// Nor can a `CsqQueue` predicate complete an IRP under the queue's lock (SDV SpinLockSafe):
// the call borrows the `Unlocked` proof exclusively.
use wdm::{CsqQueue, PendingIrp, Status, Unlocked};

fn swap(queue: &CsqQueue, mut parked: Option<PendingIrp>, cx: &mut Unlocked) -> Option<PendingIrp> {
    queue.remove_first(
        |_| {
            if let Some(old) = parked.take() {
                old.complete(Status::CANCELLED, cx);
            }
            true
        },
        cx,
    )
}

fn main() {
    let _ = swap;
}
