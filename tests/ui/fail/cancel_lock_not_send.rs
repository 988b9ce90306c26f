// The cancel-lock guard cannot move to another processor.
fn on_some_thread(cx: &'static mut wdm::Unlocked) {
    let lock = wdm::CancelLock::acquire(cx);
    std::thread::spawn(move || drop(lock));
}

fn main() {
    let _ = on_some_thread;
}
