// The lower device AddDevice hands out is for this device type only: a completion routine
// registered through it gets this type's state (SDV PnpSameDeviceObject; the type confusion
// the hostile review found for legacy drivers, closed for PnP ones too).
use wdm::pnp::{NewDevice, PnpDevice, Role};
use wdm::{Dispatch, LowerDevice, Status};

struct Other;

struct Mine {
    lower: LowerDevice<Other>,
}

impl PnpDevice for Mine {
    const ROLE: Role = Role::Filter;
    const DISPATCH: Dispatch<Self> = Dispatch::new();

    fn add_device(device: &NewDevice<'_, Self>) -> Result<Self, Status> {
        Ok(Mine { lower: device.lower() })
    }
}

fn main() {}
