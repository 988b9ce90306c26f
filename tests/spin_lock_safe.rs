//! SDV SpinLockSafe through the safe API. Completing under a lock does not compile
//! (`tests/ui/fail/spin_lock/*.rs`); the one way left was dropping a `PendingIrp` (which
//! completes it as cancelled) under a lock, which the simulator reported as
//! CalledHoldingSpinLock. A drop at DISPATCH_LEVEL now hands the IRP to its device's DPC
//! (src/dropped.rs), which completes it once the lock is released: the same mistake is clean.
//! (`crates/wdm-sim/tests/completion.rs::spin_lock_rules` shows the simulator reporting a
//! completion under a lock made through raw calls.)

use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, Irp, Outcome, PendingIrp, SpinLock, Status, Unlocked, utf16};
use wdm_sim::{Kernel, Rule};

/// Keeps the latest read; a newer read replaces (and so cancels) the older one. `UNDER`: whether
/// the replaced read is dropped under the lock (the mistake) or after it.
struct Latest<const UNDER: bool> {
    slot: SpinLock<Option<PendingIrp>>,
}

impl<const UNDER: bool> Driver for Latest<UNDER> {
    const DISPATCH: Dispatch<Self> = Dispatch::new()
        .create(Self::ok)
        .close(Self::ok)
        .cleanup(Self::cleanup)
        .read(Self::read);

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        driver.create_device(
            &DeviceOptions::new()
                .name(utf16!("\\Device\\Latest"))
                .symbolic_link(utf16!("\\DosDevices\\Latest")),
        )?;
        Ok(Latest {
            slot: SpinLock::new(None),
        })
    }
}

impl<const UNDER: bool> Latest<UNDER> {
    fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.complete(Status::SUCCESS, cx).into()
    }

    fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let (pending, pended) = irp.mark_pending();
        if UNDER {
            self.slot.with(cx, |slot| *slot = Some(pending)); // the older read is dropped under the lock
        } else {
            let older = self.slot.with(cx, |slot| slot.replace(pending));
            drop(older); // after the guard is gone
        }
        pended.into()
    }

    fn cleanup<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let last = self.slot.with(cx, Option::take);
        if let Some(last) = last {
            last.complete(Status::CANCELLED, cx);
        }
        irp.complete(Status::SUCCESS, cx).into()
    }
}

/// Two reads, the second replacing the first; returns the first read's status and the rules
/// reported.
fn replace_a_read<const UNDER: bool>() -> (i32, Vec<Rule>) {
    let kernel = Kernel::new();
    let driver = kernel.load("latest", wdm::entry::<Latest<UNDER>>).unwrap();
    let file = kernel.open(r"\\.\Latest").unwrap();
    let first = file.start_read(4);
    let second = file.start_read(4);
    let first = first.wait().status;
    file.close();
    assert_eq!(second.wait().status, Status::CANCELLED.raw());
    driver.unload();
    let rules = kernel.reports().iter().map(|r| r.rule).collect();
    (first, rules)
}

#[test]
fn dropping_a_pending_irp_under_a_lock_completes_it_after_the_lock() {
    let (first, rules) = replace_a_read::<true>();
    assert_eq!(first, Status::CANCELLED.raw());
    assert!(rules.is_empty(), "completed under the lock: {rules:?}");
}

#[test]
fn dropping_it_after_the_guard_is_clean() {
    let (first, rules) = replace_a_read::<false>();
    assert_eq!(first, Status::CANCELLED.raw());
    assert!(rules.is_empty(), "{rules:?}");
}
