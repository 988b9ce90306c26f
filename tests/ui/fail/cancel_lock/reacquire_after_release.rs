// Hostile review row 10: release, then hold the cancel lock again past the routine's return.
// Outside a Cancel routine the lock is only lent for a closure, by reference: no owned guard
// can be made, so none can be forgotten.
use wdm::start_io::{CancelRoutine, CancelledIrp};
use wdm::{CancelLock, CancelLockReleased};

struct Relock;

impl<D> CancelRoutine<D> for Relock {
    fn cancel<'c>(_driver: &D, _irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
        let mut released = lock.release();
        let again = CancelLock::with(released.unlocked(), |held| *held);
        std::mem::forget(again);
        released
    }
}

fn main() {}
