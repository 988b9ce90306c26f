// IoSetStartIoAttributes once: a second call could turn a non-cancelable device cancelable
// after packets started without a Cancel routine.
use wdm::start_io::{NonCancelable, Packet, Running};
use wdm::{Device, DeviceOptions, Dispatch, DispatchLevel, Driver, DriverObject, StartIo, Status, Unlocked};

struct D;

impl Driver for D {
    const DISPATCH: Dispatch<Self> = Dispatch::new();
    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        let _twice = driver
            .create_device(&DeviceOptions::new())?
            .start_io(driver)
            .set_start_io_attributes(NonCancelable)
            .set_start_io_attributes(NonCancelable);
        Ok(D)
    }
}

impl StartIo for D {
    fn start_io(&self, _device: Device<Running>, packet: Packet<'_>, _level: &DispatchLevel, _cx: &mut Unlocked) {
        let _held = packet.hold();
    }
}

fn main() {}
