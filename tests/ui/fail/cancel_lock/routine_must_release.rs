// SDV CancelSpinLock: a Cancel routine must release the cancel spin lock; it has to return the
// proof that only releasing makes, so forgetting the guard leaves it nothing to return.
use wdm::start_io::{CancelRoutine, CancelledIrp};
use wdm::{CancelLock, CancelLockReleased};

struct Forgetful;

impl<D> CancelRoutine<D> for Forgetful {
    fn cancel<'c>(_driver: &D, _irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
        std::mem::forget(lock);
    }
}

fn main() {}
