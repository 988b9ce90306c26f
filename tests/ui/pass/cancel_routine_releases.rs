// The twin: remove (which releases once), complete after releasing, return the proof.
use wdm::start_io::{CancelRoutine, CancelledIrp};
use wdm::{CancelLock, CancelLockReleased, Status};

struct Proper;

impl<D> CancelRoutine<D> for Proper {
    fn cancel<'c>(_driver: &D, irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
        let (removed, mut released) = irp.remove(lock);
        if let Some(irp) = removed {
            irp.complete(Status::CANCELLED, released.unlocked());
        }
        released
    }
}

fn main() {}
