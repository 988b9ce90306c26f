// Timers and work items are made from the `DriverObject`, which only exists during `init`: the
// registry relies on it (nothing joins it once the driver runs, so unload can walk it without
// its lock). The driver object cannot be kept in the state (which is `'static`) to make more
// later.
use wdm::{Dispatch, Driver, DriverObject, Status};

struct Keeper {
    object: &'static DriverObject<Keeper>,
}

impl Driver for Keeper {
    const DISPATCH: Dispatch<Self> = Dispatch::new();

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        Ok(Keeper { object: driver })
    }
}

fn main() {}
