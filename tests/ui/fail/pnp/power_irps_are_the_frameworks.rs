// IRP_MJ_POWER belongs to the framework (SDV MarkPower, MarkDevicePower, MarkPowerDown: a
// driver cannot write its own power dispatch, so it cannot fail to pend or forward a power IRP).
use wdm::pnp::{NewDevice, PnpDevice, Role};
use wdm::{Dispatch, Irp, Outcome, Status, Unlocked};

struct Powerful;

impl PnpDevice for Powerful {
    const ROLE: Role = Role::Function;
    const DISPATCH: Dispatch<Self> = Dispatch::new().major(wdm::sys::IRP_MJ_POWER, Self::power);

    fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
        Ok(Powerful)
    }
}

impl Powerful {
    fn power<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.complete(Status::SUCCESS, cx).into() // would complete an S-IRP above the PDO
    }
}

fn main() {
    let kernel = wdm_sim::Kernel::new();
    let _ = kernel.load("powerful", wdm::pnp::entry::<Powerful>);
}
