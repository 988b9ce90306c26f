// Was a FINDING (fixed: `forward_with` takes the `Unlocked` proof). Inside `CancelLock::with`
// the lower driver's dispatch routine ran holding the cancel spin lock; one that starts a
// StartIo packet or arms a cancel routine with the lock re-acquired it.
use wdm::{CancelLock, CompletionRoutine, Irp, LowerCompleted, LowerDevice, Next, Outcome, Unlocked};

struct Filter {
    lower: LowerDevice<Filter>,
}

struct PassUp;

impl CompletionRoutine<Filter> for PassUp {
    fn completed<'c>(_: &Filter, irp: LowerCompleted<'c>, _cx: &mut Unlocked) -> Next<'c> {
        irp.pass_up()
    }
}

impl Filter {
    fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        CancelLock::with(cx, |_lock| irp.forward_with::<Filter, PassUp>(&self.lower, cx))
    }
}

fn main() {
    let _ = Filter::read;
}
