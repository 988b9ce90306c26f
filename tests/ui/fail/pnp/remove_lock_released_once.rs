// Each acquisition of the remove lock is released exactly once (SDV RemoveLock,
// RemoveLockRelease2): the guard is not `Clone`, and dropping it is the release.
use wdm::{Irp, Outcome, Status, Unlocked};

fn twice<'irp>(irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    if let Ok(guard) = irp.acquire_remove_lock(1) {
        let copy = guard.clone();
        drop(guard);
        drop(copy);
    }
    irp.complete(Status::SUCCESS, cx).into()
}

fn main() {
    let _ = twice;
}
