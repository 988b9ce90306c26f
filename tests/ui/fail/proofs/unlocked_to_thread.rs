// The `Unlocked` proof stays with the callback it was lent to: it cannot be sent to a thread
// that might run while the callback holds a lock.
use wdm::{PendingIrp, Status, Unlocked};

fn elsewhere(irp: PendingIrp, cx: &'static mut Unlocked) {
    std::thread::spawn(move || irp.complete(Status::SUCCESS, cx));
}

fn main() {
    let _ = elsewhere;
}
