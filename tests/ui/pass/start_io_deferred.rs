// The twins: a deferred StartIo finishes inside StartIo; an immediate one holds the packet and
// finishes it later at DISPATCH_LEVEL.
use wdm::start_io::{HeldPacket, Packet, Running};
use wdm::{Device, Dispatch, DispatchLevel, Driver, DriverObject, StartIo, Status, at_dispatch, Unlocked};

struct D;

impl Driver for D {
    const DISPATCH: Dispatch<Self> = Dispatch::new();
    fn init(_driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        Ok(D)
    }
}

impl StartIo for D {
    fn start_io(&self, _device: Device<Running>, packet: Packet<'_>, _level: &DispatchLevel, cx: &mut Unlocked) {
        packet.finish(Status::SUCCESS, 0, cx);
    }
}

fn later(held: HeldPacket, cx: &Unlocked) {
    at_dispatch(|level| held.finish(Status::SUCCESS, 0, level, cx));
}

fn main() {
    let _ = later;
}
