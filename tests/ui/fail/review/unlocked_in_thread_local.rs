// Attack that fails: park the callback's `&mut Unlocked` in a thread-local `Cell`, to take it
// back inside a lock's closure on the same processor.
use std::cell::Cell;
use wdm::{SpinLock, Unlocked};

thread_local! {
    static PARKED: Cell<Option<&'static mut Unlocked>> = const { Cell::new(None) };
}

fn park(lock: &SpinLock<u32>, cx: &mut Unlocked) {
    PARKED.with(|p| p.set(Some(cx)));
    lock.with(PARKED.with(|p| p.take()).unwrap(), |n| *n += 1);
}

fn main() {
    let _ = park;
}
