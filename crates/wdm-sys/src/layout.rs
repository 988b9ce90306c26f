//! Layouts that must match Windows x64, checked at compile time on every target (the host
//! included, thanks to the Windows-sized `ctypes`). bindgen's own assertions cover every field
//! of the generated structures; these pin the values the simulator and framework rely on,
//! measured against the WDK (../shared/spec/cross-build.md).

use core::mem::{align_of, offset_of, size_of};

use crate::*;

#[cfg(not(wdm_backend = "wdk"))]
use crate::{_IO_CSQ as IoCsq, _KDEVICE_QUEUE as KDeviceQueue};
#[cfg(wdm_backend = "wdk")]
use crate::{IO_CSQ as IoCsq, KDEVICE_QUEUE as KDeviceQueue};

const _: () = {
    assert!(size_of::<IRP>() == 0xD0);
    assert!(align_of::<IRP>() == 16);
    assert!(size_of::<IO_STACK_LOCATION>() == 0x48);
    assert!(size_of::<DRIVER_OBJECT>() == 0x150);
    assert!(size_of::<DEVICE_OBJECT>() == 0x150);
    assert!(align_of::<DEVICE_OBJECT>() == 16);
    assert!(size_of::<KDeviceQueue>() == 0x28);
    assert!(size_of::<IoCsq>() == 0x40);
    assert!(offset_of!(IRP, CancelIrql) == 0x45);
    assert!(offset_of!(IRP, CancelRoutine) == 0x68);
    assert!(offset_of!(IRP, Tail) == 0x78);
    assert!(offset_of!(DEVICE_OBJECT, DeviceQueue) == 0xA0);
    assert!(offset_of!(DRIVER_OBJECT, DriverStartIo) == 0x60);
    assert!(offset_of!(DRIVER_OBJECT, MajorFunction) == 0x70);
};
