// Attack that fails: keep the DISPATCH_LEVEL proof that holding the cancel lock gives past the
// lock's release (then finish a held packet at PASSIVE_LEVEL with it).
use wdm::start_io::HeldPacket;
use wdm::{CancelLock, Status, Unlocked};

fn finish_late(packet: HeldPacket, cx: &mut Unlocked) {
    let level = CancelLock::with(cx, |lock| lock.dispatch());
    packet.finish(Status::SUCCESS, 0, level, cx);
}

fn main() {
    let _ = finish_late;
}
