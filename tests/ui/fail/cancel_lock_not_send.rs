// The cancel-lock guard cannot move to another processor.
fn main() {
    let lock = wdm::CancelLock::acquire();
    std::thread::spawn(move || drop(lock));
}
