// The lock is held by one processor for the closure: the value it guards cannot be handed to
// another thread that would outlive the closure.
use wdm::{SpinLock, Unlocked};

static LOCK: SpinLock<u32> = SpinLock::new(0);

fn on_some_thread(cx: &mut Unlocked) {
    LOCK.with(cx, |v| {
        std::thread::spawn(move || *v += 1);
    });
}

fn main() {
    let _ = on_some_thread;
}
