// SDV StartIoRecursion: finishing a packet inside StartIo starts the next one from inside
// StartIo; without DeferredStartIo that recurses, so it does not compile.
use wdm::start_io::{Immediate, Packet, Running};
use wdm::{Device, Dispatch, DispatchLevel, Driver, DriverObject, StartIo, Status, Unlocked};

struct D;

impl Driver for D {
    const DISPATCH: Dispatch<Self> = Dispatch::new();
    fn init(_driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        Ok(D)
    }
}

impl StartIo for D {
    type Mode = Immediate;
    fn start_io(&self, _device: Device<Running>, packet: Packet<'_, Immediate>, _level: &DispatchLevel, cx: &mut Unlocked) {
        packet.finish(Status::SUCCESS, 0, cx);
    }
}

fn main() {}
