// Attack that fails: keep the dispatch routine's `Unlocked` (and its IRP) in an async block
// stored in the driver state, to run later (perhaps under a lock).
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use wdm::{Irp, Outcome, Status, Unlocked};

struct Later {
    work: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send + 'static>>>>,
}

impl Later {
    fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let (pending, pended) = irp.mark_pending();
        *self.work.lock().unwrap() = Some(Box::pin(async move {
            pending.complete(Status::SUCCESS, cx);
        }));
        pended.into()
    }
}

fn main() {
    let _ = Later::read;
}
