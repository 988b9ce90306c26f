// SDV SpinLockSafe: no IoStartNextPacket while holding a spin lock (finishing a held packet
// starts the next one).
use wdm::start_io::HeldPacket;
use wdm::{DispatchLevel, SpinLock, Status, Unlocked};

fn hardware_done(in_progress: &SpinLock<Option<HeldPacket>>, level: &DispatchLevel, cx: &mut Unlocked) {
    in_progress.with(cx, |slot| {
        if let Some(packet) = slot.take() {
            packet.finish(Status::SUCCESS, 0, level, cx);
        }
    });
}

fn main() {
    let _ = hardware_done;
}
