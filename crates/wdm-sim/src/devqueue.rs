//! Device queues (`KDEVICE_QUEUE`).

use wdm_sys::{PKDEVICE_QUEUE, ntddk::InitializeListHead};

/// Initializes a device queue: empty, not busy.
///
/// # Safety
/// `queue` must be valid for writes.
pub(crate) unsafe fn initialize(queue: PKDEVICE_QUEUE) {
    // SAFETY: the caller guarantees a writable queue.
    let q = unsafe { &mut *queue };
    q.Type = 0x14; // DeviceQueueObject
    q.Size = size_of::<wdm_sys::KDEVICE_QUEUE>() as i16;
    // SAFETY: the list head is inside the writable queue.
    unsafe { InitializeListHead(&raw mut q.DeviceListHead) };
    q.Lock = 0;
    q.__bindgen_anon_1.Busy = 0;
}

/// `KeInitializeDeviceQueue`.
///
/// # Safety
/// Kernel routine: `queue` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeInitializeDeviceQueue(queue: PKDEVICE_QUEUE) {
    // SAFETY: forwarded contract.
    unsafe { initialize(queue) }
}
