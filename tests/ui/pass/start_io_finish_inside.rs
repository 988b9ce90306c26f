// SDV StartIoRecursion: every framework device defers StartIo, so finishing a packet inside
// StartIo — directly, or held and finished at once — starts the next one after StartIo
// returns, never from inside it (tests/start_io.rs shows it on the simulator); a held packet is
// finished later, at DISPATCH_LEVEL.
use wdm::start_io::{HeldPacket, Packet, Running};
use wdm::{Device, Dispatch, DispatchLevel, Driver, DriverObject, StartIo, Status, Unlocked, at_dispatch};

struct D;

impl Driver for D {
    const DISPATCH: Dispatch<Self> = Dispatch::new();
    fn init(_driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        Ok(D)
    }
}

impl StartIo for D {
    fn start_io(&self, _device: Device<Running>, packet: Packet<'_>, level: &DispatchLevel, cx: &mut Unlocked) {
        if packet.is_cancelled() {
            packet.hold().finish(Status::CANCELLED, 0, level, cx);
        } else {
            packet.finish(Status::SUCCESS, 0, cx);
        }
    }
}

fn later(held: HeldPacket, cx: &Unlocked) {
    at_dispatch(|level| held.finish(Status::SUCCESS, 0, level, cx));
}

fn main() {
    let _ = later;
}
