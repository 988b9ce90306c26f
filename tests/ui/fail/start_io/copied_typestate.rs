// A typestate mid-configuration cannot be copied: two copies could take the two branches
// (one registers a Cancel routine and declares StartIo cancelable, the other starts packets
// without a Cancel routine), breaking StartIoCancel.
use wdm::start_io::{Packet, Running};
use wdm::{Device, DeviceOptions, Dispatch, DispatchLevel, Driver, DriverObject, StartIo, Status, Unlocked};

struct D;

impl Driver for D {
    const DISPATCH: Dispatch<Self> = Dispatch::new();
    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        let device = driver.create_device(&DeviceOptions::new())?;
        let copy = device;
        let _a = device.start_io(driver);
        let _b = copy.start_io(driver);
        Ok(D)
    }
}

impl StartIo for D {
    fn start_io(&self, _device: Device<Running>, packet: Packet<'_>, _level: &DispatchLevel, _cx: &mut Unlocked) {
        let _held = packet.hold();
    }
}

fn main() {}
