// Attack that fails: finish StartIo's packet on another thread (a scoped one, so no 'static is
// needed) at PASSIVE_LEVEL. `Packet` is not `Send` (a `HeldPacket` is, and its finish needs the
// DISPATCH_LEVEL proof).
use wdm::start_io::Packet;
use wdm::{Status, Unlocked};

fn start_io(packet: Packet<'_>, cx: &Unlocked) {
    std::thread::scope(|s| {
        s.spawn(move || packet.finish(Status::SUCCESS, 0, cx));
    });
}

fn main() {
    let _ = start_io;
}
