// SDV SpinLockSafe for the cancel spin lock: nothing is completed while it is held.
use wdm::{CancelLock, PendingIrp, Status, Unlocked};

fn cancel_under_the_lock(irp: PendingIrp, cx: &mut Unlocked) {
    CancelLock::with(cx, |_lock| irp.complete(Status::CANCELLED, cx));
}

fn main() {
    let _ = cancel_under_the_lock;
}
