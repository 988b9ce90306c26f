// The same for work items: the callback's driver type is the one of the `DriverObject`.
use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, Status, Unlocked, WorkCallback, WorkItem};

struct Mine {
    _work: WorkItem,
}

struct Theirs {
    secret: u64,
}

struct ReadsTheirs;

impl WorkCallback<Theirs> for ReadsTheirs {
    fn run(driver: &Theirs, _cx: &mut Unlocked) {
        let _ = driver.secret;
    }
}

impl Driver for Mine {
    const DISPATCH: Dispatch<Self> = Dispatch::new();

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        let device = driver.create_device(&DeviceOptions::new())?;
        Ok(Mine {
            _work: WorkItem::new::<Mine, ReadsTheirs>(driver, &device)?,
        })
    }
}

fn main() {}
