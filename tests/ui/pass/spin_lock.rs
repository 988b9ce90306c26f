// The twin: lock, use, release by scope; the guard lends the DISPATCH_LEVEL proof.
use wdm::{DispatchLevel, SpinLock, Unlocked};

fn needs_dispatch(_level: &DispatchLevel) {}

fn main() {
    let _ = |lock: &SpinLock<u32>, cx: &mut Unlocked| {
        let mut guard = lock.lock(cx);
        *guard += 1;
        needs_dispatch(guard.dispatch());
    };
}
