// FINDING: should not compile, compiles. `forward_with` inside `CancelLock::with`: the lower
// driver's dispatch routine runs holding the cancel spin lock; one that starts a StartIo packet
// or arms a cancel routine with the lock (IoStartPacket, IoAcquireCancelSpinLock) re-acquires it.
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
        CancelLock::with(cx, |_lock| irp.forward_with::<Filter, PassUp>(&self.lower)).into()
    }
}

fn main() {
    let _ = Filter::read;
}
