//! The zero-cost measurement's driver on `wdm`: the same buffered IOCTL as `zero-cost-raw`.

#![no_std]

use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, Irp, Outcome, Status, Unlocked, utf16};

/// The one control code: METHOD_BUFFERED, function 0x800.
pub const IOCTL_REVERSE: u32 = wdm::sys::ntddk::CTL_CODE(
    wdm::sys::FILE_DEVICE_UNKNOWN,
    0x800,
    wdm::sys::METHOD_BUFFERED,
    wdm::sys::FILE_ANY_ACCESS,
);

/// The driver.
pub struct Reverse;

impl Driver for Reverse {
    const DISPATCH: Dispatch<Self> = Dispatch::new()
        .create(Self::ok)
        .close(Self::ok)
        .device_control(Self::reverse);

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\ZcWdm")))?;
        Ok(Reverse)
    }
}

impl Reverse {
    fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.complete(Status::SUCCESS, cx).into()
    }

    fn reverse<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let result = match irp.ioctl() {
            Some(ioctl) if ioctl.code() == IOCTL_REVERSE => ioctl.buffered().and_then(|mut b| {
                let n = b.input().len();
                if b.output().len() < n {
                    return Err(Status::BUFFER_TOO_SMALL);
                }
                b.output()[..n].reverse();
                Ok(n)
            }),
            _ => Err(Status::INVALID_DEVICE_REQUEST),
        };
        match result {
            Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
            Err(e) => irp.complete(e, cx).into(),
        }
    }
}
