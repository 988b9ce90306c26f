// Was a FINDING (fixed: `Irp::forward` takes the `Unlocked` proof). Inside `SpinLock::with`,
// IoCallDriver ran the lower driver's dispatch routine (and, if it completed at once,
// IoCompleteRequest and the completion routines) holding the lock: CalledHoldingSpinLock, and
// a 0xF re-acquisition when the lower was this driver's own device.
use wdm::{Irp, LowerDevice, Outcome, SpinLock, Unlocked};

struct Filter {
    lower: LowerDevice<Filter>,
    count: SpinLock<u32>,
}

impl Filter {
    fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        self.count.with(cx, |n| {
            *n += 1;
            irp.forward(&self.lower, cx) // the lower driver would run here, under the lock
        })
    }
}

fn main() {
    let _ = Filter::read;
}
