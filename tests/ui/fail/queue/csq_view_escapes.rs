// What a `CsqQueue` walk sees of a queued IRP is lent for the call, under the queue's lock: it
// cannot be kept for after the lock is released (when the IRP may be cancelled and freed).
use wdm::{CsqQueue, QueuedIrp, Unlocked};

fn keep<'q>(queue: &'q CsqQueue, cx: &mut Unlocked) -> Option<&'q QueuedIrp<'q>> {
    let mut kept = None;
    queue.for_each(|q| kept = Some(q), cx);
    kept
}

fn main() {
    let _ = keep;
}
