// Was a FINDING (fixed: forwarding takes the `Unlocked` proof). An `IrpQueue` predicate runs
// under the queue's spin lock; forwarding the dispatch routine's IRP from it ran the lower
// driver (this driver's own function device, or a driver whose completion routine is this
// one's) under the queue lock, and inserting into the same queue there re-acquired it (0xF).
use wdm::{Irp, IrpQueue, LowerDevice, Outcome, Unlocked};

struct Filter {
    lower: LowerDevice<Filter>,
    queue: IrpQueue,
}

impl Filter {
    fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let mut irp = Some(irp);
        let mut forwarded: Option<Outcome<'irp>> = None;
        let taken = self.queue.remove_first(
            |_queued| {
                if let Some(irp) = irp.take() {
                    forwarded = Some(irp.forward(&self.lower, cx)); // under the queue's lock
                }
                false
            },
            cx,
        );
        drop(taken);
        match (forwarded, irp) {
            (Some(f), _) => f,
            (None, Some(irp)) => irp.forward(&self.lower, cx),
            (None, None) => unreachable!(),
        }
    }
}

fn main() {
    let _ = Filter::read;
}
