// Nor under the cancel spin lock: `CancelLock::with` borrows the proof too, so a `CsqQueue`
// removal (IoCsqRemoveNextIrp takes the queue's lock) does not compile inside it.
use wdm::{CancelLock, CsqQueue, PendingIrp, Unlocked};

fn take_under_cancel_lock(queue: &CsqQueue<u32>, cx: &mut Unlocked) -> Option<(PendingIrp, u32)> {
    CancelLock::with(cx, |_lock| queue.remove_next_with(cx))
}

fn main() {
    let _ = take_under_cancel_lock;
}
