//! Timers through the safe API: the behaviour of the `general/event` sample — an IOCTL pends
//! until a timer fires and completes it, and stays cancelable meanwhile.

use std::time::Duration;

use wdm::{
    DeviceOptions, Dispatch, DispatchLevel, Driver, DriverObject, Irp, IrpQueue, Outcome, Status, Timer, TimerCallback,
    Unlocked, utf16,
};
use wdm_sim::Kernel;

struct Event {
    waiting: IrpQueue,
    timer: Timer,
}

struct Fire;

impl TimerCallback<Event> for Fire {
    fn expired(driver: &Event, _level: &DispatchLevel, cx: &mut Unlocked) {
        if let Some(irp) = driver.waiting.remove_next(cx) {
            irp.complete(Status::SUCCESS, cx);
        }
    }
}

impl Driver for Event {
    const DISPATCH: Dispatch<Self> = Dispatch::new()
        .create(Self::ok)
        .close(Self::ok)
        .device_control(Self::wait_for_timer);

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        driver.create_device(
            &DeviceOptions::new()
                .name(utf16!("\\Device\\Event"))
                .symbolic_link(utf16!("\\DosDevices\\Event")),
        )?;
        Ok(Event {
            waiting: IrpQueue::new()?,
            timer: Timer::new::<Self, Fire>(driver)?,
        })
    }
}

impl Event {
    fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.complete(Status::SUCCESS, cx).into()
    }

    fn wait_for_timer<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let Some(ms) = irp
            .ioctl()
            .and_then(|i| i.buffered().ok())
            .and_then(|b| b.input().first().copied())
        else {
            return irp.complete(Status::INVALID_PARAMETER, cx).into();
        };
        let (pending, pended) = irp.mark_pending();
        self.waiting.insert(pending, cx);
        // Never refused here: requests arrive only while the driver runs.
        let _ = self.timer.set(Duration::from_millis(u64::from(ms)));
        pended.into()
    }
}

const WAIT: u32 = 0x222000;

#[test]
fn the_timer_completes_the_pending_ioctl() {
    let kernel = Kernel::new();
    let driver = kernel.load("event", wdm::entry::<Event>).unwrap();
    let file = kernel.open(r"\\.\Event").unwrap();
    let p = file.start_ioctl(WAIT, &[5], 0);
    assert_eq!(p.returned, Status::PENDING.raw());
    assert_eq!(p.wait().status, Status::SUCCESS.raw());
    assert_eq!(
        file.ioctl(WAIT, &[], 0).status,
        Status::INVALID_PARAMETER.raw(),
        "no input: rejected"
    );
    assert!(kernel.wait_idle(Duration::from_secs(2)));
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_waiting_ioctl_is_cancelable_and_the_timer_then_finds_nothing() {
    let kernel = Kernel::new();
    let driver = kernel.load("event", wdm::entry::<Event>).unwrap();
    let file = kernel.open(r"\\.\Event").unwrap();
    let p = file.start_ioctl(WAIT, &[50], 0);
    assert!(p.cancel());
    assert_eq!(p.wait().status, Status::CANCELLED.raw());
    assert!(
        kernel.wait_idle(Duration::from_secs(2)),
        "the timer fires and finds the queue empty"
    );
    file.close();
    driver.unload();
    kernel.assert_clean();
}
