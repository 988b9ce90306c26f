// The twin: lock, use, release by scope; the guard lends the DISPATCH_LEVEL proof.
use wdm::{DispatchLevel, SpinLock};

fn needs_dispatch(_level: &DispatchLevel) {}

fn main() {
    let _ = |lock: &SpinLock<u32>| {
        let mut guard = lock.lock();
        *guard += 1;
        needs_dispatch(guard.dispatch());
    };
}
