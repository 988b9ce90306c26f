// The cancel-lock guard cannot outlive the Cancel routine.
use wdm::start_io::{CancelRoutine, CancelledIrp};
use wdm::{CancelLock, CancelLockReleased};

fn keep(_lock: CancelLock<'static>) {}

struct Keeper;

impl<D> CancelRoutine<D> for Keeper {
    fn cancel<'c>(_driver: &D, _irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
        keep(lock);
        loop {}
    }
}

fn main() {}
