//! Forwarding down a device stack with a completion routine, through the safe API: one driver
//! with a "function" device and a "filter" device attached on top of it.

use wdm::{
    CompletionRoutine, Device, DeviceOptions, Dispatch, Driver, DriverObject, Irp, IrpQueue, LowerCompleted,
    LowerDevice, Next, Outcome, Status, Unlocked, utf16,
};
use wdm_sim::{Kernel, Rule};

struct Stack {
    function: Device,
    lower: LowerDevice<Stack>,
    reads: IrpQueue,
    seen: std::sync::atomic::AtomicU32,
}

struct CountAndPassUp;

impl CompletionRoutine<Stack> for CountAndPassUp {
    fn completed<'c>(driver: &Stack, irp: LowerCompleted<'c>, _cx: &mut Unlocked) -> Next<'c> {
        driver.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        irp.pass_up()
    }
}

struct Reclaim;

impl CompletionRoutine<Stack> for Reclaim {
    fn completed<'c>(_driver: &Stack, irp: LowerCompleted<'c>, cx: &mut Unlocked) -> Next<'c> {
        let information = irp.information();
        let (irp, next) = irp.reclaim();
        irp.complete_with(Status::SUCCESS, information + 100, cx);
        next
    }
}

impl Driver for Stack {
    const DISPATCH: Dispatch<Self> = Dispatch::new()
        .create(Self::pass)
        .close(Self::pass)
        .read(Self::read)
        .device_control(Self::control);

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        let function = driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Function")))?;
        let filter = driver.create_device(&DeviceOptions::new())?;
        let lower = filter.attach_to(driver, &function)?;
        Ok(Stack {
            function,
            lower,
            reads: IrpQueue::new()?,
            seen: std::sync::atomic::AtomicU32::new(0),
        })
    }
}

impl Stack {
    fn pass<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        if self.function.is_target_of(&irp) {
            irp.complete(Status::SUCCESS, cx).into()
        } else {
            irp.forward(&self.lower, cx)
        }
    }

    fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        if self.function.is_target_of(&irp) {
            let (pending, pended) = irp.mark_pending();
            self.reads.insert(pending, cx);
            pended.into()
        } else if irp.transfer_length() == Some(1) {
            irp.forward_with::<Self, Reclaim>(&self.lower, cx)
        } else {
            irp.forward_with::<Self, CountAndPassUp>(&self.lower, cx)
        }
    }

    fn control<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        if !self.function.is_target_of(&irp) {
            return irp.forward(&self.lower, cx);
        }
        if let Some(read) = self.reads.remove_next(cx) {
            read.complete_with(Status::SUCCESS, 7, cx);
        }
        irp.complete(Status::SUCCESS, cx).into()
    }
}

#[test]
fn the_filter_sees_completions_and_the_pending_mark_is_propagated() {
    let kernel = Kernel::new();
    let driver = kernel.load("stack", wdm::entry::<Stack>).unwrap();
    let file = kernel.open(r"\Device\Function").unwrap();
    let read = file.start_read(8);
    assert_eq!(read.returned, Status::PENDING.raw());
    file.ioctl(0x222000, &[], 0);
    let r = read.wait();
    assert_eq!((r.status, r.information), (Status::SUCCESS.raw(), 7));
    file.close();
    driver.unload();
    assert!(!kernel.was_reported(Rule::PendingNotPropagated));
    kernel.assert_clean();
}

#[test]
fn a_reclaimed_irp_is_completed_by_the_filter() {
    let kernel = Kernel::new();
    let driver = kernel.load("stack", wdm::entry::<Stack>).unwrap();
    let file = kernel.open(r"\Device\Function").unwrap();
    let read = file.start_read(1);
    file.ioctl(0x222000, &[], 0);
    let r = read.wait();
    assert_eq!(
        r.information, 107,
        "the filter's completion replaced the lower driver's"
    );
    file.close();
    driver.unload();
    kernel.assert_clean();
}
