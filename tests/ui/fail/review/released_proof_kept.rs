// Attack that fails: keep a Cancel routine's `CancelLockReleased` (and the `Unlocked` it
// lends) in the driver state, to complete from a later callback that holds a lock.
use std::sync::Mutex;
use wdm::start_io::{CancelRoutine, CancelledIrp};
use wdm::{CancelLock, CancelLockReleased};

static KEPT: Mutex<Option<CancelLockReleased<'static>>> = Mutex::new(None);

struct Keep;

impl<D> CancelRoutine<D> for Keep {
    fn cancel<'c>(_driver: &D, _irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
        *KEPT.lock().unwrap() = Some(lock.release());
        unreachable!()
    }
}

fn main() {}
