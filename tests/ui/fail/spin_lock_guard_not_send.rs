// A spin-lock guard (and the IRQL it restores) belongs to one processor.
static LOCK: wdm::SpinLock<u32> = wdm::SpinLock::new(0);

fn on_some_thread(cx: &'static mut wdm::Unlocked) {
    let guard = LOCK.lock(cx);
    std::thread::spawn(move || drop(guard));
}

fn main() {
    let _ = on_some_thread;
}
