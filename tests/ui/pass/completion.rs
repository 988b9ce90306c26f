// The twins: a completion routine passes the IRP up, or reclaims and completes it.
use wdm::{CompletionRoutine, LowerCompleted, Next, Status, Unlocked};

struct PassUp;

impl<D> CompletionRoutine<D> for PassUp {
    fn completed<'c>(_driver: &D, irp: LowerCompleted<'c>, _cx: &mut Unlocked) -> Next<'c> {
        irp.pass_up()
    }
}

struct Reclaim;

impl<D> CompletionRoutine<D> for Reclaim {
    fn completed<'c>(_driver: &D, irp: LowerCompleted<'c>, cx: &mut Unlocked) -> Next<'c> {
        let (irp, next) = irp.reclaim();
        irp.complete(Status::SUCCESS, cx);
        next
    }
}

fn main() {}
