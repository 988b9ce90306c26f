// SDV SpinLock / SpinlockRelease: the framework releases the lock when the closure returns, so
// the value cannot be reached after the release: a reference to it cannot leave the closure.
use wdm::{SpinLock, Unlocked};

fn keep(lock: &SpinLock<u32>, cx: &mut Unlocked) -> u32 {
    let value = lock.with(cx, |v| v);
    *value
}

fn main() {
    let _ = keep;
}
