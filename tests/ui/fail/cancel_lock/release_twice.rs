// SDV CancelSpinlockRelease: the cancel spin lock cannot be released twice.
use wdm::start_io::{CancelRoutine, CancelledIrp};
use wdm::{CancelLock, CancelLockReleased};

struct Twice;

impl<D> CancelRoutine<D> for Twice {
    fn cancel<'c>(_driver: &D, _irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
        let _first = lock.release();
        lock.release()
    }
}

fn main() {}
