// FINDING: should not compile (or should be refused at run time), compiles and loads. A device
// attached to itself (or two devices to each other) makes a cycle in the device stack: opening
// it never returns (tests/review.rs::attach_cycle). `attach_to` checks only that the attaching
// device is not attached yet, not that the target's stack does not contain it.
use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, LowerDevice, Status, utf16};

struct Loop {
    _lower: LowerDevice<Loop>,
}

impl Driver for Loop {
    const DISPATCH: Dispatch<Self> = Dispatch::new();

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        let device = driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Loop")))?;
        let lower = device.attach_to(driver, &device)?;
        Ok(Loop { _lower: lower })
    }
}

fn main() {}
