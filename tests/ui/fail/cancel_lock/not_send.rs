// The cancel-lock guard cannot move to another processor (nor outlive the Cancel routine).
use wdm::start_io::{CancelRoutine, CancelledIrp};
use wdm::{CancelLock, CancelLockReleased};

struct Elsewhere;

impl<D> CancelRoutine<D> for Elsewhere {
    fn cancel<'c>(_driver: &D, _irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
        std::thread::scope(|s| s.spawn(move || lock.release()).join().unwrap())
    }
}

fn main() {}
