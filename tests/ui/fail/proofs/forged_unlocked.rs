// Only the framework makes the `Unlocked` proof.
use wdm::{PendingIrp, Status, Unlocked};

fn complete_anywhere(irp: PendingIrp) {
    irp.complete(Status::SUCCESS, &Unlocked { _not_send: std::marker::PhantomData });
}

fn main() {
    let _ = complete_anywhere;
}
