//! The I/O manager's side of a request: building the IRP a user-mode call turns into, and
//! finishing it when it completes.

use std::sync::Arc;

use wdm_sys::ntddk::IoGetNextIrpStackLocation;
use wdm_sys::{PDEVICE_OBJECT, PFILE_OBJECT, PIRP, UCHAR};

use crate::irp::{Origin, Waiter, allocate};
use crate::kernel::State;

/// The device at the top of the stack `device` belongs to (where the I/O manager sends IRPs).
///
/// # Safety
/// `device` must be a live device object.
pub(crate) unsafe fn top_of_stack(device: PDEVICE_OBJECT) -> PDEVICE_OBJECT {
    let mut top = device;
    // SAFETY: attached devices are live while attached.
    unsafe {
        while !(*top).AttachedDevice.is_null() {
            top = (*top).AttachedDevice;
        }
    }
    top
}

/// Builds an IRP for `major` on `file`, addressed to the top of `device`'s stack.
///
/// # Safety
/// `device` and `file` must be live.
pub(crate) unsafe fn build(k: &State, device: PDEVICE_OBJECT, file: PFILE_OBJECT, major: u32) -> (PIRP, PDEVICE_OBJECT, Arc<Waiter>) {
    // SAFETY: forwarded contract.
    let top = unsafe { top_of_stack(device) };
    let waiter = Arc::new(Waiter::default());
    // SAFETY: `top` is live.
    let stack_size = unsafe { (*top).StackSize };
    let irp = allocate(k, stack_size, Origin::Request(Arc::clone(&waiter)));
    // SAFETY: a fresh IRP with `stack_size` >= 1 locations.
    unsafe {
        (*irp).RequestorMode = wdm_sys::_MODE::UserMode as i8;
        (*irp).Tail.Overlay.OriginalFileObject = file;
        let next = &mut *IoGetNextIrpStackLocation(irp);
        next.MajorFunction = major as UCHAR;
        next.FileObject = file;
    }
    (irp, top, waiter)
}
