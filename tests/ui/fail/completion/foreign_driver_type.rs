// Hostile review row 2: a completion routine for another driver type would read this driver's
// state as that type. The lower device is typed by the driver that attached it, and its
// completion routines get that driver's state.
use wdm::{CompletionRoutine, Dispatch, Driver, DriverObject, Irp, LowerCompleted, LowerDevice, Next, Outcome, Status, Unlocked};

struct Mine {
    lower: LowerDevice<Mine>,
}

struct Other {
    secret: u64,
}

impl Driver for Mine {
    const DISPATCH: Dispatch<Self> = Dispatch::new().read(Self::read);
    fn init(_driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        Err(Status::NOT_SUPPORTED)
    }
}

impl Driver for Other {
    const DISPATCH: Dispatch<Self> = Dispatch::new();
    fn init(_driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        Ok(Other { secret: 0 })
    }
}

struct ReadsOther;

impl CompletionRoutine<Other> for ReadsOther {
    fn completed<'c>(driver: &Other, irp: LowerCompleted<'c>, _cx: &mut Unlocked) -> Next<'c> {
        let _ = driver.secret;
        irp.pass_up()
    }
}

impl Mine {
    fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.forward_with::<Other, ReadsOther>(&self.lower, cx)
    }
}

fn main() {
    let _ = Mine::read;
}
