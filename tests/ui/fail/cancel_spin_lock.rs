// SDV CancelSpinLock: a Cancel routine must release the cancel spin lock; it has to return the
// proof that only `release` makes.
use wdm::start_io::{CancelRoutine, CancelledIrp};
use wdm::{CancelLock, CancelLockReleased};

struct Forgetful;

impl<D> CancelRoutine<D> for Forgetful {
    fn cancel<'c>(_driver: &D, irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
        let _removed = irp.remove(&lock);
    }
}

fn main() {}
