//! The driver image.

#![no_std]
#![no_main]

use wdm::sys::{NTSTATUS, PDRIVER_OBJECT, PUNICODE_STRING};

/// The driver's entry point.
///
/// # Safety
/// Called by the I/O manager with a fresh driver object.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DriverEntry(driver: PDRIVER_OBJECT, registry: PUNICODE_STRING) -> NTSTATUS {
    // SAFETY: forwarded from the I/O manager.
    unsafe { zero_cost_raw::entry(driver, registry) }
}
