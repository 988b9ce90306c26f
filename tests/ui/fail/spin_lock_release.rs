// SDV SpinLock / SpinlockRelease: a lock is released by dropping its guard, once.
fn twice(lock: &wdm::SpinLock<u32>, cx: &mut wdm::Unlocked) {
    let guard = lock.lock(cx);
    drop(guard);
    drop(guard);
}

fn main() {
    let _ = twice;
}
