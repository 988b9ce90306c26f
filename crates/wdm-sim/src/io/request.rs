//! The I/O manager's side of a request: building the IRP a user-mode call turns into (with its
//! buffers laid out by buffering method), and finishing it when it completes.

use std::sync::{Arc, Mutex};

use wdm_sys::{
    DO_BUFFERED_IO, DO_DIRECT_IO, IRP_BUFFERED_IO, IRP_DEALLOCATE_BUFFER, IRP_INPUT_OPERATION, IRP_MJ_DEVICE_CONTROL,
    IRP_MJ_INTERNAL_DEVICE_CONTROL, IRP_MJ_READ, IRP_MJ_WRITE, MDL, MDL_MAPPED_TO_SYSTEM_VA, MDL_PAGES_LOCKED,
    METHOD_BUFFERED, METHOD_NEITHER, PDEVICE_OBJECT, PFILE_OBJECT, PIRP, UCHAR,
};

use crate::irp::{Completion, Finisher, Origin, Waiter, allocate, next_location};
use crate::kernel::{State, lock};

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

/// What a request carries: the caller's input and the room for its output.
#[derive(Clone, Debug, Default)]
pub struct Buffers {
    /// Data to the driver (write data, IOCTL input).
    pub input: Vec<u8>,
    /// The caller's output buffer (read data, IOCTL output); its length is the output length.
    pub output: Vec<u8>,
}

/// The request's memory while the IRP is in flight: the user buffers, the system buffer and
/// the MDL, owned here and freed when the IRP completes.
struct InFlight {
    user: Buffers,
    system: Vec<u8>,
    mdl: Option<Box<MDL>>,
    /// Copy the system buffer back to `user.output` on completion (buffered reads, IOCTLs).
    copy_back: bool,
}

// SAFETY: the raw pointers inside the MDL point into `user`, which moves with it.
unsafe impl Send for InFlight {}

/// A request's result: status, information and the output bytes the driver wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoResult {
    /// `IoStatus.Status`.
    pub status: wdm_sys::NTSTATUS,
    /// `IoStatus.Information`.
    pub information: usize,
    /// The output buffer after the request (as long as the caller asked for).
    pub output: Vec<u8>,
}

impl IoResult {
    /// The first `information` bytes of the output (what the driver says it returned).
    pub fn data(&self) -> &[u8] {
        &self.output[..self.information.min(self.output.len())]
    }
}

/// The user-mode ranges callers have passed to drivers and that are still in flight
/// (METHOD_NEITHER and neither-I/O buffers): the simulator's model of what a user address may
/// name. Process-wide, keyed by address: buffers of different kernels never overlap.
static USER_RANGES: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

fn register_user(address: *mut u8, len: usize) -> Option<(usize, usize)> {
    (len > 0 && !address.is_null()).then(|| {
        let range = (address as usize, len);
        lock(&USER_RANGES).push(range);
        range
    })
}

fn unregister_user(range: (usize, usize)) {
    let mut ranges = lock(&USER_RANGES);
    if let Some(i) = ranges.iter().position(|r| *r == range) {
        ranges.swap_remove(i);
    }
}

fn is_user(address: usize, len: usize) -> bool {
    let end = address.saturating_add(len);
    lock(&USER_RANGES).iter().any(|&(a, l)| address >= a && end <= a + l)
}

/// `wdm_user_copy`: the kernel backend's fault-tolerant copy (an SEH-guarded `rep movsb`). Here a
/// user address is readable and writable exactly when it lies in a buffer a simulated caller
/// passed with a request still in flight; anything else is an access violation, as an unmapped
/// or foreign address would be on Windows.
///
/// # Safety
/// The kernel side of the copy must be memory the driver owns.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn wdm_user_copy(dst: *mut u8, src: *const u8, len: usize) -> wdm_sys::NTSTATUS {
    if len == 0 {
        return wdm_sys::STATUS_SUCCESS;
    }
    if !is_user(src as usize, len) && !is_user(dst as usize, len) {
        return wdm_sys::STATUS_ACCESS_VIOLATION;
    }
    // SAFETY: the user side is a live caller buffer (checked above); the kernel side is the
    // driver's (the caller's contract). They may alias only if the driver passes the same user
    // buffer twice, which `copy` allows.
    unsafe { std::ptr::copy(src, dst, len) };
    wdm_sys::STATUS_SUCCESS
}

/// The shared end of a request: the finisher stores the output here.
pub(crate) type Output = Arc<Mutex<Option<Vec<u8>>>>;

fn mdl_for(buffer: &mut [u8]) -> Box<MDL> {
    let va = buffer.as_mut_ptr() as usize;
    let page = va & !0xFFF;
    Box::new(MDL {
        Next: std::ptr::null_mut(),
        Size: size_of::<MDL>() as i16,
        MdlFlags: (MDL_MAPPED_TO_SYSTEM_VA | MDL_PAGES_LOCKED) as i16,
        Process: std::ptr::null_mut(),
        MappedSystemVa: va as *mut _,
        StartVa: page as *mut _,
        ByteCount: buffer.len() as u32,
        ByteOffset: (va - page) as u32,
    })
}

/// Builds an IRP for `major` on `file`, addressed to the top of `device`'s stack, with the
/// buffers laid out as the I/O manager does for the device's (or the control code's) method.
///
/// # Safety
/// `device` and `file` must be live.
pub(crate) unsafe fn build(
    k: &State,
    device: PDEVICE_OBJECT,
    file: PFILE_OBJECT,
    major: u32,
    ioctl: u32,
    buffers: Buffers,
) -> (PIRP, PDEVICE_OBJECT, Arc<Waiter>, Output) {
    // SAFETY: forwarded contract.
    let top = unsafe { top_of_stack(device) };
    // Fields, not `&DEVICE_OBJECT`: other processors are exchanging its device queue's lock
    // word and writing CurrentIrp.
    // SAFETY: as above.
    let stack_size = unsafe { (*top).StackSize };
    // SAFETY: as above.
    let flags = unsafe { (*top).Flags };
    let waiter = Arc::new(Waiter::default());
    let output: Output = Arc::new(Mutex::new(None));
    let mut flight = Box::new(InFlight {
        user: buffers,
        system: Vec::new(),
        mdl: None,
        copy_back: false,
    });
    let (in_len, out_len) = (flight.user.input.len(), flight.user.output.len());

    let mut system_buffer: *mut u8 = std::ptr::null_mut();
    let mut user_buffer: *mut u8 = std::ptr::null_mut();
    let mut type3_input: *mut u8 = std::ptr::null_mut();
    let mut irp_flags = 0;
    match major {
        IRP_MJ_READ | IRP_MJ_WRITE => {
            let read = major == IRP_MJ_READ;
            let data_len = if read { out_len } else { in_len };
            if flags & DO_BUFFERED_IO != 0 {
                flight.system = if read {
                    vec![0; data_len]
                } else {
                    flight.user.input.clone()
                };
                system_buffer = flight.system.as_mut_ptr();
                flight.copy_back = read;
                irp_flags = IRP_BUFFERED_IO | IRP_DEALLOCATE_BUFFER | if read { IRP_INPUT_OPERATION } else { 0 };
            } else if flags & DO_DIRECT_IO != 0 {
                let user = if read {
                    &mut flight.user.output
                } else {
                    &mut flight.user.input
                };
                if !user.is_empty() {
                    flight.mdl = Some(mdl_for(user));
                }
            } else {
                user_buffer = if read {
                    flight.user.output.as_mut_ptr()
                } else {
                    flight.user.input.as_mut_ptr()
                };
            }
        }
        IRP_MJ_DEVICE_CONTROL | IRP_MJ_INTERNAL_DEVICE_CONTROL => {
            let method = ioctl & 3;
            if method == METHOD_BUFFERED {
                flight.system = vec![0; in_len.max(out_len)];
                flight.system[..in_len].copy_from_slice(&flight.user.input);
                flight.copy_back = out_len > 0;
                irp_flags = IRP_BUFFERED_IO | IRP_DEALLOCATE_BUFFER | if out_len > 0 { IRP_INPUT_OPERATION } else { 0 };
            } else if method == METHOD_NEITHER {
                type3_input = flight.user.input.as_mut_ptr();
                user_buffer = flight.user.output.as_mut_ptr();
            } else {
                // METHOD_IN_DIRECT / METHOD_OUT_DIRECT: input buffered, output described by an MDL.
                flight.system = flight.user.input.clone();
                irp_flags = IRP_BUFFERED_IO | IRP_DEALLOCATE_BUFFER;
                if out_len > 0 {
                    flight.mdl = Some(mdl_for(&mut flight.user.output));
                }
            }
            if !flight.system.is_empty() {
                system_buffer = flight.system.as_mut_ptr();
            }
        }
        _ => {}
    }
    let mdl: *mut MDL = flight
        .mdl
        .as_deref_mut()
        .map_or(std::ptr::null_mut(), |m| m as *mut MDL);

    let user_ranges = [
        register_user(user_buffer, if major == IRP_MJ_WRITE { in_len } else { out_len }),
        register_user(type3_input, in_len),
    ];
    let out = Arc::clone(&output);
    let finisher: Finisher = Box::new(move |_irp, done: Completion| {
        for range in user_ranges.into_iter().flatten() {
            unregister_user(range);
        }
        let mut flight = flight;
        if flight.copy_back {
            let n = done.information.min(flight.user.output.len()).min(flight.system.len());
            flight.user.output[..n].copy_from_slice(&flight.system[..n]);
        }
        *lock(&out) = Some(std::mem::take(&mut flight.user.output));
    });
    let irp = allocate(k, stack_size, Origin::Request(Arc::clone(&waiter), Some(finisher)));
    // SAFETY: a fresh IRP that nobody else references yet.
    let i = unsafe { &mut *irp };
    i.RequestorMode = wdm_sys::_MODE::UserMode as i8;
    i.Tail.Overlay.OriginalFileObject = file;
    i.Flags = irp_flags;
    i.MdlAddress = mdl;
    i.AssociatedIrp.SystemBuffer = system_buffer.cast();
    i.UserBuffer = user_buffer.cast();
    // SAFETY: the IRP has `stack_size` >= 1 locations, so there is a next one.
    let next = unsafe { next_location(irp) };
    next.MajorFunction = major as UCHAR;
    next.FileObject = file;
    match major {
        IRP_MJ_READ => {
            next.Parameters.Read.Length = out_len as u32;
        }
        IRP_MJ_WRITE => {
            next.Parameters.Write.Length = in_len as u32;
        }
        IRP_MJ_DEVICE_CONTROL | IRP_MJ_INTERNAL_DEVICE_CONTROL => {
            // SAFETY: writing the DeviceIoControl member of the parameter union.
            let p = unsafe { &mut next.Parameters.DeviceIoControl };
            p.IoControlCode = ioctl;
            p.InputBufferLength = in_len as u32;
            p.OutputBufferLength = out_len as u32;
            p.Type3InputBuffer = type3_input.cast();
        }
        _ => {}
    }
    (irp, top, waiter, output)
}
