// Nor can init hand it to another thread that would make timers while (or after) the driver
// starts: the driver object is neither `Send` nor `Sync`.
use wdm::{Dispatch, DispatchLevel, Driver, DriverObject, Status, Timer, TimerCallback, Unlocked};

struct Late {
    _timer: Timer,
}

struct Tick;

impl TimerCallback<Late> for Tick {
    fn expired(_driver: &Late, _level: &DispatchLevel, _cx: &mut Unlocked) {}
}

impl Driver for Late {
    const DISPATCH: Dispatch<Self> = Dispatch::new();

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        let driver = &*driver;
        let timer = std::thread::scope(|s| s.spawn(|| Timer::new::<Self, Tick>(driver)).join().unwrap())?;
        Ok(Late { _timer: timer })
    }
}

fn main() {}
