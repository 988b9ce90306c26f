//! The I/O manager's side of a request: building the IRP a user-mode call turns into, and
//! finishing it when it completes.

use std::sync::Arc;

use wdm_sys::{PDEVICE_OBJECT, PFILE_OBJECT, PIRP, UCHAR};

use crate::irp::{Origin, Waiter, allocate, next_location};
use crate::kernel::State;

/// The device at the top of the stack `device` belongs to (where the I/O manager sends IRPs).
///
/// # Safety
/// `device` must be a live device object.
pub(crate) unsafe fn top_of_stack(device: PDEVICE_OBJECT) -> PDEVICE_OBJECT {
    let mut top = device;
    loop {
        // SAFETY: `device` is live (caller) and attached devices are live while attached.
        let above = unsafe { (*top).AttachedDevice };
        if above.is_null() {
            return top;
        }
        top = above;
    }
}

/// Builds an IRP for `major` on `file`, addressed to the top of `device`'s stack.
///
/// # Safety
/// `device` and `file` must be live.
pub(crate) unsafe fn build(
    k: &State,
    device: PDEVICE_OBJECT,
    file: PFILE_OBJECT,
    major: u32,
) -> (PIRP, PDEVICE_OBJECT, Arc<Waiter>) {
    // SAFETY: forwarded contract.
    let top = unsafe { top_of_stack(device) };
    let waiter = Arc::new(Waiter::default());
    // SAFETY: `top` is live.
    let stack_size = unsafe { (*top).StackSize };
    let irp = allocate(k, stack_size, Origin::Request(Arc::clone(&waiter)));
    // SAFETY: a fresh IRP that nobody else references yet.
    let i = unsafe { &mut *irp };
    i.RequestorMode = wdm_sys::_MODE::UserMode as i8;
    i.Tail.Overlay.OriginalFileObject = file;
    // SAFETY: the IRP has `stack_size` >= 1 locations, so there is a next one.
    let next = unsafe { next_location(irp) };
    next.MajorFunction = major as UCHAR;
    next.FileObject = file;
    (irp, top, waiter)
}
