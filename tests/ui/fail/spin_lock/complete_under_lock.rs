// SDV SpinLockSafe: no IoCompleteRequest while holding a spin lock. Completing needs the
// `Unlocked` proof, which `with` borrows for the whole closure.
use wdm::{Irp, Outcome, PendingIrp, SpinLock, Status, Unlocked};

fn handler<'irp>(slot: &SpinLock<Option<PendingIrp>>, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    slot.with(cx, |waiting| {
        if let Some(earlier) = waiting.take() {
            earlier.complete(Status::CANCELLED, cx);
        }
    });
    irp.complete(Status::SUCCESS, cx).into()
}

fn main() {
    let _ = handler;
}
