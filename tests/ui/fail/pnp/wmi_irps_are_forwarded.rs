// IRP_MJ_SYSTEM_CONTROL is forwarded by the framework (SDV WmiForward): a PnP device that names
// it in its dispatch table does not build (it would complete WMI IRPs meant for others).
use wdm::pnp::{NewDevice, PnpDevice, Role};
use wdm::{Dispatch, Irp, Outcome, Status, Unlocked};

struct Swallower;

impl PnpDevice for Swallower {
    const ROLE: Role = Role::Function;
    const DISPATCH: Dispatch<Self> = Dispatch::new().major(wdm::sys::IRP_MJ_SYSTEM_CONTROL, Self::wmi);

    fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
        Ok(Swallower)
    }
}

impl Swallower {
    fn wmi<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.complete(Status::SUCCESS, cx).into() // would swallow another provider.s WMI IRP
    }
}

fn main() {
    let kernel = wdm_sim::Kernel::new();
    let _ = kernel.load("swallower", wdm::pnp::entry::<Swallower>);
}
