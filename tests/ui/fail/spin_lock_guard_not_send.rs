// A spin-lock guard (and the IRQL it restores) belongs to one processor.
fn main() {
    static LOCK: wdm::SpinLock<u32> = wdm::SpinLock::new(0);
    let guard = LOCK.lock();
    std::thread::spawn(move || drop(guard));
}
