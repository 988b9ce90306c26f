// A function or filter driver never fails a device SET_POWER (SDV PowerUpFail): entering D0
// is a hook that returns `()`.
use wdm::pnp::{NewDevice, PnpDevice, Role};
use wdm::{Dispatch, Status, Unlocked};

struct Asleep;

impl PnpDevice for Asleep {
    const ROLE: Role = Role::Function;
    const DISPATCH: Dispatch<Self> = Dispatch::new();

    fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
        Ok(Asleep)
    }

    fn d0_entry(&self, _cx: &mut Unlocked) -> Result<(), Status> {
        Err(Status::DEVICE_BUSY)
    }
}

fn main() {}
