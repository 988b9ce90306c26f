// SURPRISE_REMOVAL must succeed (SDV PnpRemove, Driver Verifier 0xC4/0x43006): its hook
// returns `()`, so a driver cannot fail it.
use wdm::pnp::{NewDevice, PnpDevice, Role};
use wdm::{Dispatch, Status, Unlocked};

struct Stubborn;

impl PnpDevice for Stubborn {
    const ROLE: Role = Role::Function;
    const DISPATCH: Dispatch<Self> = Dispatch::new();

    fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
        Ok(Stubborn)
    }

    fn surprise_removal(&self, _cx: &mut Unlocked) -> Result<(), Status> {
        Err(Status::DEVICE_BUSY)
    }
}

fn main() {}
