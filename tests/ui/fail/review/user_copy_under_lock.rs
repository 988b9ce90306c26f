// FINDING: should not compile (or should refuse at run time), compiles and succeeds. The
// METHOD_NEITHER copy is SEH-guarded, which catches a bad address only below DISPATCH_LEVEL; in
// a lock's closure (or `at_dispatch`) a page fault on a pageable user page is bug check 0xA,
// which no exception handler catches. `UserBuffers` needs no proof of the IRQL.
use wdm::{Irp, Outcome, SpinLock, Status, Unlocked, at_dispatch};

fn control<'irp>(saved: &SpinLock<[u8; 16]>, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    let copied = match irp.ioctl().map(|io| io.user_buffers()) {
        Some(Ok(mut user)) => {
            let n = saved.with(cx, |s| user.read_input(s)); // user memory at DISPATCH_LEVEL
            let _ = at_dispatch(|_| user.write_output(&[1, 2, 3])); // and again
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
