// SDV SpinLockSafe for the IoCsq-based queue: a `CsqQueue` operation takes the queue's own spin
// lock (through the system's IoCsq routines) and may complete a cancelled IRP, so it needs the
// `Unlocked` proof, which a driver lock's `with` borrows for the whole closure.
use wdm::{CsqQueue, PendingIrp, SpinLock, Unlocked};

fn park_under_lock(queue: &CsqQueue, parked: &SpinLock<u32>, irp: PendingIrp, cx: &mut Unlocked) {
    parked.with(cx, |n| {
        *n += 1;
        queue.insert(irp, cx); // under `parked`'s lock
    });
}

fn main() {
    let _ = park_under_lock;
}
