// The proof a Cancel routine returns is branded with its own call: one made elsewhere (here, a
// released lock smuggled in from a static) does not type-check.
use std::sync::Mutex;
use wdm::start_io::{CancelRoutine, CancelledIrp};
use wdm::{CancelLock, CancelLockReleased};

static STASH: Mutex<Option<CancelLockReleased<'static>>> = Mutex::new(None);

struct Smuggler;

impl<D> CancelRoutine<D> for Smuggler {
    fn cancel<'c>(_driver: &D, _irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
        std::mem::forget(lock);
        STASH.lock().unwrap().take().unwrap()
    }
}

fn main() {}
