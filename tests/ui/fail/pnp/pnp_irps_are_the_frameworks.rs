// IRP_MJ_PNP belongs to the framework's state machine: a PnP device that names it in its
// dispatch table does not build (SDV PnpIrpCompletion, PnpRemove, MarkStartDevice, NsRemoveLock*,
// RemoveLockMnRemove: a driver cannot write its own PnP dispatch, so it cannot pend START, fail
// REMOVE, pass a removal IRP down as NOT_SUPPORTED, or forward one without the remove lock).
use wdm::pnp::{NewDevice, PnpDevice, Role};
use wdm::{Dispatch, Irp, Outcome, Status, Unlocked};

struct Greedy;

impl PnpDevice for Greedy {
    const ROLE: Role = Role::Function;
    const DISPATCH: Dispatch<Self> = Dispatch::new().major(wdm::sys::IRP_MJ_PNP, Self::pnp);

    fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
        Ok(Greedy)
    }
}

impl Greedy {
    fn pnp<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.complete(Status::SUCCESS, cx).into() // would fail REMOVE, never detach or delete
    }
}

fn main() {
    let kernel = wdm_sim::Kernel::new();
    let _ = kernel.load("greedy", wdm::pnp::entry::<Greedy>);
}
