// FINDING: should not compile, compiles. `Irp::forward` takes no `Unlocked` proof, so it is
// callable inside `SpinLock::with`: IoCallDriver runs the lower driver's dispatch routine (and,
// if it completes at once, IoCompleteRequest and the completion routines) holding the lock.
// tests/review.rs::forward_under_lock shows CalledHoldingSpinLock and a 0xF re-acquisition.
use wdm::{Irp, LowerDevice, Outcome, SpinLock, Unlocked};

struct Filter {
    lower: LowerDevice<Filter>,
    count: SpinLock<u32>,
}

impl Filter {
    fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        self.count
            .with(cx, |n| {
                *n += 1;
                irp.forward(&self.lower) // the lower driver runs here, under the lock
            })
            .into()
    }
}

fn main() {
    let _ = Filter::read;
}
