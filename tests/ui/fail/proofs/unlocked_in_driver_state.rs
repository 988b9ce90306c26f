// Nor can the proof be kept in the driver's state for a later callback (which may run under a
// lock): the state is shared by every processor (`Driver: Send + Sync`), the proof is not.
use wdm::{Dispatch, Driver, DriverObject, Status, Unlocked};

struct Stash {
    cx: Option<&'static mut Unlocked>,
}

impl Driver for Stash {
    const DISPATCH: Dispatch<Self> = Dispatch::new();
    fn init(_driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        Ok(Stash { cx: None })
    }
}

fn main() {}
