// Attack that fails: keep StartIo's `Packet` (whose finish assumes DISPATCH_LEVEL) in the
// driver state past StartIo, to finish it later from a dispatch routine at PASSIVE_LEVEL.
use wdm::start_io::{NoCancelRoutine, NonCancelable, Packet, Running, Set, StartIoState};
use wdm::{Device, Dispatch, DispatchLevel, Driver, DriverObject, SpinLock, StartIo, Status, Unlocked};

struct Keeper {
    _device: Device<StartIoState<Keeper, NoCancelRoutine, Set<NonCancelable>>>,
    kept: SpinLock<Option<Packet<'static>>>,
}

impl Driver for Keeper {
    const DISPATCH: Dispatch<Self> = Dispatch::new();
    fn init(_driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        Err(Status::UNSUCCESSFUL)
    }
}

impl StartIo for Keeper {
    fn start_io(&self, _: Device<Running>, packet: Packet<'_>, _: &DispatchLevel, cx: &mut Unlocked) {
        drop(self.kept.with(cx, |k| k.replace(packet)));
    }
}

fn main() {}
