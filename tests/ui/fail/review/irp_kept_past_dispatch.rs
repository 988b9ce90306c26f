// Attack that fails: keep the dispatch routine's `Irp` (not pended) in a static, to complete
// or forward it after the dispatch routine returned some other outcome.
use std::sync::Mutex;
use wdm::{Irp, Outcome, Unlocked};

static KEPT: Mutex<Option<Irp<'static>>> = Mutex::new(None);

fn read<'irp>(irp: Irp<'irp>, _cx: &mut Unlocked) -> Outcome<'irp> {
    *KEPT.lock().unwrap() = Some(irp);
    loop {}
}

fn main() {
    let _ = read;
}
