// The twins: a timer set and a work item queued during init (armed once init has returned),
// refusals handled as results, and an unload that completes what it holds with its own status.
use std::time::Duration;

use wdm::{
    DeviceOptions, Dispatch, DispatchLevel, Driver, DriverObject, IrpQueue, Status, Timer, TimerCallback, Unlocked,
    WorkCallback, WorkItem,
};

struct Tidy {
    waiting: IrpQueue,
    timer: Timer,
    work: WorkItem,
}

struct Tick;

impl TimerCallback<Tidy> for Tick {
    fn expired(driver: &Tidy, _level: &DispatchLevel, _cx: &mut Unlocked) {
        if driver.work.queue() == Err(Status::INVALID_DEVICE_STATE) {
            // unloading: nothing more to do
        }
    }
}

impl WorkCallback<Tidy> for Tick {
    fn run(driver: &Tidy, _cx: &mut Unlocked) {
        let _ = driver.timer.set(Duration::from_millis(10));
    }
}

impl Driver for Tidy {
    const DISPATCH: Dispatch<Self> = Dispatch::new();

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        let device = driver.create_device(&DeviceOptions::new())?;
        let timer = Timer::new::<Self, Tick>(driver)?;
        timer.set(Duration::ZERO)?;
        let work = WorkItem::new::<Self, Tick>(driver, &device)?;
        work.queue()?;
        Ok(Tidy {
            waiting: IrpQueue::new()?,
            timer,
            work,
        })
    }

    fn unload(&mut self, cx: &mut Unlocked) {
        self.waiting.complete_all(Status::NO_SUCH_DEVICE, cx);
    }
}

fn main() {}
