// One spin lock at a time: a second lock needs the proof the first one borrows, which also
// rules out re-acquiring a held lock (0xF) and lock-order deadlocks between the driver's locks.
use wdm::{SpinLock, Unlocked};

fn both(a: &SpinLock<u32>, b: &SpinLock<u32>, cx: &mut Unlocked) -> u32 {
    a.with(cx, |first| b.with(cx, |second| *first + *second))
}

fn main() {
    let _ = both;
}
