// What AddDevice gets is lent for the call: it cannot be kept to attach, detach or delete
// later (SDV AddDevice, PnpSameDeviceObject, PnpSurpriseRemove: only the framework does those).
use wdm::pnp::{NewDevice, PnpDevice, Role};
use wdm::{Dispatch, Status};

struct Keeper;

impl PnpDevice for Keeper {
    const ROLE: Role = Role::Function;
    const DISPATCH: Dispatch<Self> = Dispatch::new();

    fn add_device(device: &NewDevice<'_, Self>) -> Result<Self, Status> {
        let kept: &'static NewDevice<'static, Keeper> = device;
        let _ = kept;
        Ok(Keeper)
    }
}

fn main() {}
