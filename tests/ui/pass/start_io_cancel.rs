// The twin: register the Cancel routine first; NonCancelable = TRUE is fine without one.
use wdm::start_io::{Cancelable, NonCancelable, Packet, RemoveAndComplete, Running};
use wdm::{Device, DeviceOptions, Dispatch, DispatchLevel, Driver, DriverObject, StartIo, Status, Unlocked};

struct D;

impl Driver for D {
    const DISPATCH: Dispatch<Self> = Dispatch::new();
    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        let _cancelable = driver
            .create_device(&DeviceOptions::new())?
            .start_io(driver)
            .cancel_routine::<RemoveAndComplete>()
            .set_start_io_attributes(Cancelable);
        let _plain = driver.create_device(&DeviceOptions::new())?.start_io(driver).set_start_io_attributes(NonCancelable);
        Ok(D)
    }
}

impl StartIo for D {
    fn start_io(&self, _device: Device<Running>, packet: Packet<'_>, _level: &DispatchLevel, _cx: &mut Unlocked) {
        let _held = packet.hold();
    }
}

fn main() {}
