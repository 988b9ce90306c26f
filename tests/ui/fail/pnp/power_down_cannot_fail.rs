// A function or filter driver never fails a device SET_POWER (SDV PowerDownFail): leaving D0
// is a hook that returns `()`.
use wdm::pnp::{DevicePowerState, NewDevice, PnpDevice, Role};
use wdm::{Dispatch, Status, Unlocked};

struct Awake;

impl PnpDevice for Awake {
    const ROLE: Role = Role::Function;
    const DISPATCH: Dispatch<Self> = Dispatch::new();

    fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
        Ok(Awake)
    }

    fn d0_exit(&self, _target: DevicePowerState, _cx: &mut Unlocked) -> Result<(), Status> {
        Err(Status::DEVICE_BUSY)
    }
}

fn main() {}
