// Nor can a queue's predicate complete an IRP under the queue's lock (SDV SpinLockSafe): the
// call borrows the `Unlocked` proof exclusively.
use wdm::{IrpQueue, PendingIrp, Status, Unlocked};

fn swap(queue: &IrpQueue, mut parked: Option<PendingIrp>, cx: &mut Unlocked) -> Option<PendingIrp> {
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
