// SDV IrqlDispatch: IoStartNextPacket (finishing a held packet) needs DISPATCH_LEVEL, and only
// the framework makes the proof.
use wdm::start_io::HeldPacket;
use wdm::{DispatchLevel, Status, Unlocked};

fn from_passive_level(held: HeldPacket, cx: &Unlocked) {
    held.finish(Status::SUCCESS, 0, &DispatchLevel { _not_send: std::marker::PhantomData }, cx);
}

fn main() {
    let _ = from_passive_level;
}
