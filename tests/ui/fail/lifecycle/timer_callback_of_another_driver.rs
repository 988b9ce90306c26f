// A timer's DPC is handed the state of the driver whose `DriverObject` made the timer: a
// callback written for another driver's state (another type, another layout) cannot be
// attached to it.
use wdm::{Dispatch, DispatchLevel, Driver, DriverObject, Status, Timer, TimerCallback, Unlocked};

struct Mine {
    _timer: Timer,
}

struct Theirs {
    secret: u64,
}

struct ReadsTheirs;

impl TimerCallback<Theirs> for ReadsTheirs {
    fn expired(driver: &Theirs, _level: &DispatchLevel, _cx: &mut Unlocked) {
        let _ = driver.secret;
    }
}

impl Driver for Mine {
    const DISPATCH: Dispatch<Self> = Dispatch::new();

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        Ok(Mine {
            _timer: Timer::new::<Self, ReadsTheirs>(driver)?,
        })
    }
}

fn main() {}
