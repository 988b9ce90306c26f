// The twin: lock for a closure, return a copy of what is needed; DISPATCH_LEVEL inside.
use wdm::{DispatchLevel, SpinLock, Unlocked, at_dispatch};

fn needs_dispatch(_level: &DispatchLevel) {}

fn main() {
    let _ = |lock: &SpinLock<u32>, cx: &mut Unlocked| -> u32 {
        lock.with(cx, |value| {
            *value += 1;
            at_dispatch(needs_dispatch); // already there: the raise is a no-op
            *value
        })
    };
}
