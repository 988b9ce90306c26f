// One spin lock at a time: a second lock needs the proof the first guard borrows, which also
// rules out re-acquiring a held lock (0xF) and lock-order deadlocks between the driver's locks.
use wdm::{SpinLock, Unlocked};

fn both(a: &SpinLock<u32>, b: &SpinLock<u32>, cx: &mut Unlocked) {
    let first = a.lock(cx);
    let second = b.lock(cx);
    let _ = (*first, *second);
}

fn main() {
    let _ = both;
}
