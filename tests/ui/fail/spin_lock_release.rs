// SDV SpinLock / SpinlockRelease: a lock is released by dropping its guard, once.
fn main() {
    let lock = wdm::SpinLock::new(0u32);
    let guard = lock.lock();
    drop(guard);
    drop(guard);
}
