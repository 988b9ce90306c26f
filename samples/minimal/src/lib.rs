//! The smallest useful WDM driver.
//!
//! DriverEntry creates `\Device\Minimal` and the symbolic link `\DosDevices\Minimal` (so user
//! mode opens `\\.\Minimal`), create and close succeed, and unload deletes both. Every other
//! request fails with `STATUS_INVALID_DEVICE_REQUEST`, which the framework arranges by giving
//! unhandled major functions no dispatch routine.

#![no_std]

use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, Irp, Outcome, Status, Unlocked, kprint, utf16};

/// The device's options: a named device with a DOS link.
pub const DEVICE: DeviceOptions = DeviceOptions::new()
    .name(utf16!("\\Device\\Minimal"))
    .symbolic_link(utf16!("\\DosDevices\\Minimal"));

/// The driver. It has no state.
pub struct Minimal;

impl Driver for Minimal {
    const DISPATCH: Dispatch<Self> = Dispatch::new().create(Self::create).close(Self::close);

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        driver.create_device(&DEVICE)?;
        kprint!("minimal: loaded\n");
        Ok(Minimal)
    }

    fn unload(&mut self, _cx: &mut Unlocked) {
        kprint!("minimal: unloading\n");
    }
}

impl Minimal {
    fn create<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.complete(Status::SUCCESS, cx).into()
    }

    fn close<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.complete(Status::SUCCESS, cx).into()
    }
}
