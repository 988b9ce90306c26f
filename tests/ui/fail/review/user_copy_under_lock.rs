// Was a FINDING (fixed: the copies take the `Unlocked` proof, and refuse DISPATCH_LEVEL at run
// time, for `at_dispatch`: tests/review.rs::user_copy_at_dispatch). The METHOD_NEITHER copy is
// SEH-guarded, which catches a bad address only below DISPATCH_LEVEL; in a lock's closure a
// page fault on a pageable user page is bug check 0xA, which no exception handler catches.
use wdm::{Irp, Outcome, SpinLock, Status, Unlocked};

fn control<'irp>(saved: &SpinLock<[u8; 16]>, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    let copied = match irp.ioctl().map(|io| io.user_buffers()) {
        Some(Ok(mut user)) => {
            let n = saved.with(cx, |s| user.read_input(s, cx)); // user memory at DISPATCH_LEVEL
            let _ = user.write_output(&[1, 2, 3], cx);
            n
        }
        _ => Err(Status::INVALID_PARAMETER),
    };
    match copied {
        Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
        Err(e) => irp.complete(e, cx).into(),
    }
}

fn main() {
    let _ = control;
}
