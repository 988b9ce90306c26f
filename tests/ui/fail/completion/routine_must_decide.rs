// A completion routine must say what happens next (pass up, or reclaim); it cannot make that
// answer without the IRP.
use wdm::{CompletionRoutine, LowerCompleted, Next, Unlocked};

struct Undecided;

impl<D> CompletionRoutine<D> for Undecided {
    fn completed<'c>(_driver: &D, irp: LowerCompleted<'c>, _cx: &mut Unlocked) -> Next<'c> {
        let _ = irp;
        Next { status: 0, _brand: std::marker::PhantomData }
    }
}

fn main() {}
