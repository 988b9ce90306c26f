// FINDING: should not compile, compiles. An `IrpQueue` predicate runs under the queue's spin
// lock; docs/soundness.md says it "can neither lock, complete, nor call into a queue". It can
// forward the dispatch routine's IRP: the lower driver (this driver's own function device, or
// a driver whose completion routine is this one's) then runs under the queue lock, and inserting
// into the same queue there re-acquires it (0xF).
use wdm::{Forwarded, Irp, IrpQueue, LowerDevice, Outcome, Unlocked};

struct Filter {
    lower: LowerDevice<Filter>,
    queue: IrpQueue,
}

impl Filter {
    fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let mut irp = Some(irp);
        let mut forwarded: Option<Forwarded<'irp>> = None;
        let taken = self.queue.remove_first(
            |_queued| {
                if let Some(irp) = irp.take() {
                    forwarded = Some(irp.forward(&self.lower)); // under the queue's lock
                }
                false
            },
            cx,
        );
        drop(taken);
        match (forwarded, irp) {
            (Some(f), _) => f.into(),
            (None, Some(irp)) => irp.forward(&self.lower).into(),
            (None, None) => unreachable!(),
        }
    }
}

fn main() {
    let _ = Filter::read;
}
