// SDV StartIoCancel: NonCancelable = FALSE before a Cancel routine is registered.
use wdm::start_io::{Cancelable, Packet, Running};
use wdm::{Device, DeviceOptions, Dispatch, DispatchLevel, Driver, DriverObject, StartIo, Status, Unlocked};

struct D;

impl Driver for D {
    const DISPATCH: Dispatch<Self> = Dispatch::new();
    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        let _device = driver.create_device(&DeviceOptions::new())?.start_io(driver).set_start_io_attributes(Cancelable);
        Ok(D)
    }
}

impl StartIo for D {
    fn start_io(&self, _device: Device<Running>, packet: Packet<'_>, _level: &DispatchLevel, _cx: &mut Unlocked) {
        let _held = packet.hold();
    }
}

fn main() {}
