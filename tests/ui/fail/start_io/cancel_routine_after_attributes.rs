// SDV StartIoCancel, the order: the Cancel routine is registered before the attributes are set
// (afterwards, packets may already be started without it).
use wdm::start_io::{NonCancelable, Packet, RemoveAndComplete, Running};
use wdm::{Device, DeviceOptions, Dispatch, DispatchLevel, Driver, DriverObject, StartIo, Status, Unlocked};

struct D;

impl Driver for D {
    const DISPATCH: Dispatch<Self> = Dispatch::new();
    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        let _late = driver
            .create_device(&DeviceOptions::new())?
            .start_io(driver)
            .set_start_io_attributes(NonCancelable)
            .cancel_routine::<RemoveAndComplete>();
        Ok(D)
    }
}

impl StartIo for D {
    fn start_io(&self, _device: Device<Running>, packet: Packet<'_>, _level: &DispatchLevel, _cx: &mut Unlocked) {
        let _held = packet.hold();
    }
}

fn main() {}
