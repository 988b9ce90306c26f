//! What a request carries: its parameters and buffers, by buffering method, with lengths
//! checked.
//!
//! | request | method | where the data is | accessor |
//! |---|---|---|---|
//! | read | `DO_BUFFERED_IO` / `DO_DIRECT_IO` | the system buffer / an MDL locked for write access | [`Irp::data_mut`] (to fill) |
//! | write | `DO_BUFFERED_IO` / `DO_DIRECT_IO` | the system buffer / an MDL locked for read access | [`Irp::data`] (read-only) |
//! | read/write | neither | the caller's user-mode address | [`Irp::user_buffer`] (unsafe) |
//! | IOCTL | `METHOD_BUFFERED` | one system buffer for input, then output | [`Ioctl::buffered`] |
//! | IOCTL | `METHOD_IN_DIRECT` | input: system buffer; second buffer: an MDL locked for read access | [`Ioctl::in_direct`] (both read-only) |
//! | IOCTL | `METHOD_OUT_DIRECT` | input: system buffer; output: an MDL locked for write access | [`Ioctl::out_direct`] |
//! | IOCTL | `METHOD_NEITHER` | user-mode addresses | [`Ioctl::user_buffers`] (copies, checked and fault-tolerant), [`Ioctl::neither`] (raw, unsafe) |
//!
//! The type says the access the I/O manager granted: memory it locked only for read access (a
//! write's data, a METHOD_IN_DIRECT second buffer) comes as `&[u8]`, never `&mut [u8]`. Those
//! pages are the caller's own, and may be read-only in its process (a mapped image, a
//! copy-on-write page): the system-space mapping of an MDL is writable whatever the pages'
//! protection, so a write through it would change memory the caller only let the driver read.
//! Only a read's buffer ([`Irp::data_mut`]) and an output ([`Buffered::output`],
//! [`OutDirect::output`]) are mutable. ([`Irp::data`] works for a read too, read-only.)
//!
//! Buffers come back as slices exactly as long as the request says, so a driver cannot read or
//! write past them; a length that does not fit the driver's needs is its own check, answered
//! with an NTSTATUS ([`Status::BUFFER_TOO_SMALL`], [`Status::INVALID_PARAMETER`]), never a
//! panic. A request whose buffer is missing (NULL, or no MDL) for a non-zero length, or whose
//! MDL describes fewer bytes than its length, gets STATUS_INVALID_PARAMETER: the I/O manager
//! never builds one, but a kernel-mode caller can. METHOD_NEITHER and neither-I/O hand over
//! user-mode addresses: in C they are touched only inside `__try`/`__except` after
//! ProbeForRead/ProbeForWrite, and Rust has no structured exception handling, so they are
//! never lent out as slices; [`Ioctl::user_buffers`] copies through an SEH-guarded routine.
//!
//! Not covered yet: a direct-I/O buffer is the caller's pages, locked but still mapped in its
//! process, so another of its threads can change them while the driver holds the slice (in C, a
//! double-fetch hazard; Rust's slices assume no writer). Copy what you validate before you rely
//! on it.

use core::marker::PhantomData;
use core::ptr::NonNull;

use wdm_sys::ntddk::{IoGetCurrentIrpStackLocation, MmGetMdlByteCount, MmGetSystemAddressForMdlSafe};
use wdm_sys::{
    DO_BUFFERED_IO, DO_DIRECT_IO, IO_STACK_LOCATION, IRP, IRP_MJ_DEVICE_CONTROL, IRP_MJ_INTERNAL_DEVICE_CONTROL,
    IRP_MJ_READ, IRP_MJ_WRITE, METHOD_BUFFERED, METHOD_IN_DIRECT, METHOD_NEITHER, METHOD_OUT_DIRECT,
};

use crate::{Irp, PendingIrp, Status, Unlocked};

/// `NormalPagePriority | MdlMappingNoExecute`: the priority drivers map MDLs with.
const MAPPING_PRIORITY: u32 = 16 | 0x4000_0000;

fn location<'a>(irp: NonNull<IRP>) -> &'a IO_STACK_LOCATION {
    // SAFETY: an owned, live IRP; its current location is valid while it is owned.
    let location = unsafe { IoGetCurrentIrpStackLocation(irp.as_ptr()) };
    // SAFETY: as above.
    unsafe { &*location }
}

/// The start of the `len` bytes the IRP's MDL describes, mapped to system space: dangling for
/// an empty buffer (no MDL needed), STATUS_INVALID_PARAMETER if there is no MDL or it describes
/// fewer than `len` bytes (only a kernel-mode caller can build such a request: a mapping covers
/// the first MDL of a chain only), STATUS_INSUFFICIENT_RESOURCES if it cannot be mapped.
fn mdl_buffer(irp: NonNull<IRP>, len: usize) -> Result<NonNull<u8>, Status> {
    if len == 0 {
        return Ok(NonNull::dangling());
    }
    // SAFETY: an owned, live IRP; a field by raw place (see `Ioctl`).
    let mdl = unsafe { (*irp.as_ptr()).MdlAddress };
    if mdl.is_null() {
        return Err(Status::INVALID_PARAMETER);
    }
    // SAFETY: the IRP's MDL, built and locked for the request by its sender.
    let described = unsafe { MmGetMdlByteCount(mdl) };
    if (described as usize) < len {
        return Err(Status::INVALID_PARAMETER);
    }
    // SAFETY: as above: a locked MDL, which is what the routine maps.
    let va = unsafe { MmGetSystemAddressForMdlSafe(mdl, MAPPING_PRIORITY) };
    NonNull::new(va.cast()).ok_or(Status::INSUFFICIENT_RESOURCES)
}

/// The start of a `len`-byte buffer at `p`: dangling for an empty buffer at NULL,
/// STATUS_INVALID_PARAMETER for a non-empty one.
fn start(p: *mut u8, len: usize) -> Result<NonNull<u8>, Status> {
    // NULL first: one test on the common path (a buffer), the length only when it is NULL.
    match NonNull::new(p) {
        Some(p) => Ok(p),
        None if len == 0 => Ok(NonNull::dangling()),
        None => Err(Status::INVALID_PARAMETER),
    }
}

/// # Safety
/// `p` must be valid for reads of `len` bytes for `'a`, and nothing may write them meanwhile
/// (or `len` must be 0).
unsafe fn slice<'a>(p: *mut u8, len: usize) -> Result<&'a [u8], Status> {
    let p = start(p, len)?;
    // SAFETY: the caller's contract (a dangling `p` only for `len == 0`).
    Ok(unsafe { core::slice::from_raw_parts(p.as_ptr(), len) })
}

/// # Safety
/// `p` must be valid for reads and writes of `len` bytes for `'a`, and nothing else may access
/// them meanwhile (or `len` must be 0).
unsafe fn slice_mut<'a>(p: *mut u8, len: usize) -> Result<&'a mut [u8], Status> {
    let p = start(p, len)?;
    // SAFETY: the caller's contract (a dangling `p` only for `len == 0`).
    Ok(unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), len) })
}

/// A device-control request (IRP_MJ_DEVICE_CONTROL / INTERNAL_DEVICE_CONTROL).
///
/// ```
/// use wdm::{Irp, Outcome, Status, Unlocked};
///
/// const IOCTL_PING: u32 = wdm::ctl_code(wdm::FILE_DEVICE_UNKNOWN, 0x900, wdm::Method::Buffered, wdm::FILE_ANY_ACCESS);
///
/// fn device_control<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///     let status = match irp.ioctl() {
///         Some(ioctl) if ioctl.code() == IOCTL_PING => Status::SUCCESS,
///         _ => Status::INVALID_DEVICE_REQUEST, // unknown control codes
///     };
///     irp.complete(status, cx).into()
/// }
/// ```
pub struct Ioctl<'a> {
    /// Not `&'a mut IRP`: IoCancelIrp may write the IRP's `Cancel`, `CancelIrql` and
    /// `CancelRoutine` from another processor while the driver holds this, and a reference to
    /// the whole IRP would claim those bytes (and let the compiler assume `Cancel` does not
    /// change). The fields the accessors read are the owner's, by raw place; the lifetime lends
    /// the IRP exclusively for `'a`, as the reference did.
    irp: NonNull<IRP>,
    _irp: PhantomData<&'a mut IRP>,
    /// In the dispatch routine (the requesting thread's context), not from a pended IRP.
    in_caller_context: bool,
    // Read from the stack location once, and private: the buffer accessors slice the system
    // buffer and MDL by these, so a driver must not be able to change them (a larger length
    // would lend memory past the buffer; another code, another buffering method).
    code: u32,
    input_len: usize,
    output_len: usize,
}

/// A METHOD_BUFFERED request's system buffer: the input is copied in first, the output is
/// written over it and copied back (`Information` bytes of it).
///
/// ```
/// use wdm::{Irp, Outcome, Status, Unlocked};
///
/// fn device_control<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///     let result = irp.ioctl().ok_or(Status::INVALID_DEVICE_REQUEST).and_then(|i| i.buffered()).and_then(|mut b| {
///         // Echo: the input, copied to the output (they share one system buffer).
///         let n = b.input().len();
///         if b.output().len() < n {
///             return Err(Status::BUFFER_TOO_SMALL);
///         }
///         Ok(n)
///     });
///     match result {
///         Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
///         Err(status) => irp.complete(status, cx).into(),
///     }
/// }
/// ```
pub struct Buffered<'a> {
    buffer: &'a mut [u8],
    input_len: usize,
    output_len: usize,
}

impl Buffered<'_> {
    /// The input (read it before writing the output: they share the buffer).
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn device_control<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let result = irp.ioctl().ok_or(Status::INVALID_DEVICE_REQUEST).and_then(|i| i.buffered()).and_then(|mut b| {
    ///         let sum = b.input().iter().map(|&x| u32::from(x)).sum::<u32>();
    ///         let out = b.output().get_mut(..4).ok_or(Status::BUFFER_TOO_SMALL)?;
    ///         out.copy_from_slice(&sum.to_le_bytes());
    ///         Ok(4)
    ///     });
    ///     match result {
    ///         Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
    ///         Err(status) => irp.complete(status, cx).into(),
    ///     }
    /// }
    /// ```
    pub fn input(&self) -> &[u8] {
        &self.buffer[..self.input_len]
    }

    /// The output.
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn device_control<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let result = irp.ioctl().ok_or(Status::INVALID_DEVICE_REQUEST).and_then(|i| i.buffered()).and_then(|mut b| {
    ///         let version = 3u32.to_le_bytes();
    ///         b.output().get_mut(..4).ok_or(Status::BUFFER_TOO_SMALL)?.copy_from_slice(&version);
    ///         Ok(4)
    ///     });
    ///     match result {
    ///         Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
    ///         Err(status) => irp.complete(status, cx).into(),
    ///     }
    /// }
    /// ```
    pub fn output(&mut self) -> &mut [u8] {
        &mut self.buffer[..self.output_len]
    }
}

/// A METHOD_IN_DIRECT request's buffers, both to read: the input in the system buffer, and the
/// second buffer (the one `DeviceIoControl` calls the output buffer) in place, through the MDL
/// the I/O manager locked for *read* access (`IoReadAccess`).
///
/// Both are `&[u8]`: the second buffer is the caller's memory, which it let the driver read
/// only, and which may be read-only in its process (a mapped image, a copy-on-write page); the
/// MDL's system-space mapping is writable regardless, so handing it out mutably would let the
/// driver change what the caller protected. A driver that answers in the second buffer wants
/// METHOD_OUT_DIRECT ([`OutDirect`]).
///
/// ```
/// use wdm::{Irp, Outcome, Status, Unlocked};
///
/// // METHOD_IN_DIRECT: consume the caller's data (here: refuse it if it holds a zero byte).
/// fn consume<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///     let result = irp.ioctl().ok_or(Status::INVALID_DEVICE_REQUEST).and_then(|i| i.in_direct()).and_then(|d| {
///         if d.data.contains(&0) { Err(Status::INVALID_PARAMETER) } else { Ok(d.data.len()) }
///     });
///     match result {
///         Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
///         Err(status) => irp.complete(status, cx).into(),
///     }
/// }
/// ```
pub struct InDirect<'a> {
    /// The input buffer (`InputBufferLength` bytes, a kernel copy).
    pub input: &'a [u8],
    /// The second buffer (`OutputBufferLength` bytes), the caller's own pages mapped to system
    /// space: read-only.
    pub data: &'a [u8],
}

/// A METHOD_OUT_DIRECT request's buffers: the input in the system buffer, and the output in
/// place, through the MDL the I/O manager locked for *write* access (`IoWriteAccess`): the
/// driver writes the caller's buffer directly, with no copy back.
///
/// ```
/// use wdm::{Irp, Outcome, Status, Unlocked};
///
/// // METHOD_OUT_DIRECT: fill the caller's (locked, mapped) output buffer.
/// fn fill<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///     let result = irp.ioctl().ok_or(Status::INVALID_DEVICE_REQUEST).and_then(|i| i.out_direct()).map(|d| {
///         d.output.fill(0x5A);
///         d.output.len()
///     });
///     match result {
///         Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
///         Err(status) => irp.complete(status, cx).into(),
///     }
/// }
/// ```
pub struct OutDirect<'a> {
    /// The input buffer (`InputBufferLength` bytes, a kernel copy).
    pub input: &'a [u8],
    /// The output buffer (`OutputBufferLength` bytes), mapped to system space.
    pub output: &'a mut [u8],
}

/// A METHOD_NEITHER request's buffers: addresses in the requesting process, possibly invalid,
/// possibly changing under the driver. They are never lent out as slices; data is copied in and
/// out, and each copy is checked and guarded as C drivers do with ProbeForRead/ProbeForWrite
/// inside `__try`/`__except`:
/// - a user-mode caller's range must lie in user space (STATUS_INVALID_USER_BUFFER otherwise), so
///   a caller cannot make the driver read or write kernel memory;
/// - the copy itself runs in a routine with an SEH handler (`wdm_sys::user`), so an unmapped or
///   protected address yields STATUS_ACCESS_VIOLATION instead of a bug check.
///
/// ```
/// use wdm::{Irp, Outcome, Status, Unlocked};
///
/// // METHOD_NEITHER, without `unsafe`: copy in, work on the copy, copy out.
/// fn neither<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///     let mut data = [0u8; 16];
///     let result = irp.ioctl().ok_or(Status::INVALID_DEVICE_REQUEST).and_then(|i| i.user_buffers()).and_then(|mut u| {
///         let n = u.read_input(&mut data, cx)?;
///         data[..n].make_ascii_uppercase();
///         u.write_output(&data[..n], cx)
///     });
///     match result {
///         Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
///         Err(status) => irp.complete(status, cx).into(), // bad addresses: a status, not a crash
///     }
/// }
/// ```
pub struct UserBuffers<'a> {
    input: usize,
    input_len: usize,
    output: usize,
    output_len: usize,
    from_user_mode: bool,
    _irp: PhantomData<&'a mut IRP>,
}

impl UserBuffers<'_> {
    /// The input buffer's length.
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn check_lengths<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let ok = irp.ioctl().and_then(|i| i.user_buffers().ok()).is_some_and(|u| u.input_len() == 4);
    ///     irp.complete(if ok { Status::SUCCESS } else { Status::INVALID_PARAMETER }, cx).into()
    /// }
    /// ```
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// The output buffer's length.
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn check_lengths<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let ok = irp.ioctl().and_then(|i| i.user_buffers().ok()).is_some_and(|u| u.output_len() >= 8);
    ///     irp.complete(if ok { Status::SUCCESS } else { Status::BUFFER_TOO_SMALL }, cx).into()
    /// }
    /// ```
    pub fn output_len(&self) -> usize {
        self.output_len
    }

    fn check(&self, address: usize, len: usize) -> Result<(), Status> {
        // The copy's SEH guard catches a bad address only below DISPATCH_LEVEL: there a fault
        // on a pageable user page is bug check 0xA, which no handler catches. `cx` keeps the
        // copy out of a lock's closure; this refuses `at_dispatch`.
        if wdm_sys::inline::KeGetCurrentIrql() >= wdm_sys::DISPATCH_LEVEL as wdm_sys::KIRQL {
            return Err(Status::INVALID_DEVICE_STATE);
        }
        if len > 0 && address == 0 {
            return Err(Status::INVALID_USER_BUFFER);
        }
        if self.from_user_mode && !wdm_sys::user::user_range_ok(address, len) {
            return Err(Status::INVALID_USER_BUFFER);
        }
        Ok(())
    }

    /// Copies the start of the input into `to` (as much as both have); returns the bytes copied.
    /// Below DISPATCH_LEVEL only: `cx` (no spin lock held) and, inside `at_dispatch`,
    /// STATUS_INVALID_DEVICE_STATE.
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn read_u32<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let mut word = [0u8; 4];
    ///     let status = match irp.ioctl().map(|i| i.user_buffers()) {
    ///         Some(Ok(u)) => match u.read_input(&mut word, cx) {
    ///             Ok(4) => Status::SUCCESS,
    ///             Ok(_) => Status::INVALID_PARAMETER,
    ///             Err(status) => status, // STATUS_INVALID_USER_BUFFER, STATUS_ACCESS_VIOLATION
    ///         },
    ///         Some(Err(status)) => status,
    ///         None => Status::INVALID_DEVICE_REQUEST,
    ///     };
    ///     irp.complete(status, cx).into()
    /// }
    /// ```
    pub fn read_input(&self, to: &mut [u8], _cx: &Unlocked) -> Result<usize, Status> {
        let n = to.len().min(self.input_len);
        self.check(self.input, self.input_len)?;
        // SAFETY: `to` is ours for `n` bytes; the source is a checked range, and a fault on it
        // is caught by the routine.
        let status = unsafe { wdm_sys::user::wdm_user_copy(to.as_mut_ptr(), self.input as *const u8, n) };
        Status::check(status).map(|()| n)
    }

    /// Copies `from` to the start of the output (as much as fits); returns the bytes copied.
    /// Below DISPATCH_LEVEL only, as for [`read_input`](Self::read_input).
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn answer<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let result = irp.ioctl().ok_or(Status::INVALID_DEVICE_REQUEST).and_then(|i| i.user_buffers()).and_then(|mut u| {
    ///         u.write_output(b"pong", cx)
    ///     });
    ///     match result {
    ///         Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
    ///         Err(status) => irp.complete(status, cx).into(),
    ///     }
    /// }
    /// ```
    pub fn write_output(&mut self, from: &[u8], _cx: &Unlocked) -> Result<usize, Status> {
        let n = from.len().min(self.output_len);
        self.check(self.output, self.output_len)?;
        // SAFETY: `from` is ours for `n` bytes; the destination is a checked range, and a fault
        // on it is caught by the routine.
        let status = unsafe { wdm_sys::user::wdm_user_copy(self.output as *mut u8, from.as_ptr(), n) };
        Status::check(status).map(|()| n)
    }
}

impl<'a> Ioctl<'a> {
    /// The control code (`IoControlCode`).
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// const IOCTL_PING: u32 = wdm::ctl_code(wdm::FILE_DEVICE_UNKNOWN, 0x900, wdm::Method::Buffered, wdm::FILE_ANY_ACCESS);
    ///
    /// fn device_control<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let known = irp.ioctl().is_some_and(|i| i.code() == IOCTL_PING);
    ///     irp.complete(if known { Status::SUCCESS } else { Status::INVALID_DEVICE_REQUEST }, cx).into()
    /// }
    /// ```
    #[must_use]
    pub fn code(&self) -> u32 {
        self.code
    }

    /// The input buffer's length (`InputBufferLength`).
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn needs_a_word<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let ok = irp.ioctl().is_some_and(|i| i.input_len() == 4);
    ///     irp.complete(if ok { Status::SUCCESS } else { Status::INVALID_PARAMETER }, cx).into()
    /// }
    /// ```
    #[must_use]
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// The output buffer's length (`OutputBufferLength`).
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn room_for_a_word<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let ok = irp.ioctl().is_some_and(|i| i.output_len() >= 4);
    ///     irp.complete(if ok { Status::SUCCESS } else { Status::BUFFER_TOO_SMALL }, cx).into()
    /// }
    /// ```
    #[must_use]
    pub fn output_len(&self) -> usize {
        self.output_len
    }

    /// The buffering method (`METHOD_*`) of the control code.
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn by_method<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let buffered = irp.ioctl().is_some_and(|i| i.method() == wdm::Method::Buffered as u32);
    ///     irp.complete(if buffered { Status::SUCCESS } else { Status::NOT_SUPPORTED }, cx).into()
    /// }
    /// ```
    pub fn method(&self) -> u32 {
        self.code & 3
    }

    /// The buffers of a METHOD_BUFFERED request (STATUS_INVALID_PARAMETER for another method).
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn device_control<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let result = irp.ioctl().ok_or(Status::INVALID_DEVICE_REQUEST).and_then(|i| i.buffered()).and_then(|mut b| {
    ///         b.output().fill(0);
    ///         Ok(b.output().len())
    ///     });
    ///     match result {
    ///         Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
    ///         Err(status) => irp.complete(status, cx).into(),
    ///     }
    /// }
    /// ```
    pub fn buffered(self) -> Result<Buffered<'a>, Status> {
        if self.method() != METHOD_BUFFERED {
            return Err(Status::INVALID_PARAMETER);
        }
        // `SystemBuffer` is the union member the I/O manager sets for buffered I/O.
        let system = self.system_buffer();
        let len = self.input_len.max(self.output_len);
        // SAFETY: the I/O manager allocated max(input, output) bytes there for this request.
        let buffer = unsafe { slice_mut(system, len) }?;
        Ok(Buffered {
            buffer,
            input_len: self.input_len,
            output_len: self.output_len,
        })
    }

    /// `AssociatedIrp.SystemBuffer`.
    fn system_buffer(&self) -> *mut u8 {
        // SAFETY: the IRP is live and lent to `self`; only the field's address is computed.
        let field = unsafe { &raw const (*self.irp.as_ptr()).AssociatedIrp.SystemBuffer };
        // SAFETY: as above; both union members are pointers (plain data).
        unsafe { field.read() }.cast()
    }

    /// `UserBuffer`.
    fn user_buffer(&self) -> *mut u8 {
        // SAFETY: the IRP is live and lent to `self`; a field by raw place.
        unsafe { (*self.irp.as_ptr()).UserBuffer }.cast()
    }

    /// The input of a METHOD_IN_DIRECT or METHOD_OUT_DIRECT request: the system buffer.
    fn direct_input(&self) -> Result<&'a [u8], Status> {
        // `SystemBuffer` holds the buffered input for the direct methods.
        let system = self.system_buffer();
        // SAFETY: the I/O manager allocated `input_len` bytes there, the IRP owner's for `'a`
        // (`self` lends the IRP exclusively and is consumed by the accessors calling this).
        unsafe { slice(system, self.input_len) }
    }

    /// The buffers of a METHOD_IN_DIRECT request, both read-only (see [`InDirect`]):
    /// STATUS_INVALID_PARAMETER for another method, or if a non-empty buffer is missing or its
    /// MDL is shorter than the request says; STATUS_INSUFFICIENT_RESOURCES if the MDL cannot be
    /// mapped. An empty buffer is an empty slice.
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// // The first input byte selects a byte of the caller's data; answer with its value.
    /// fn pick<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let result = irp.ioctl().ok_or(Status::INVALID_DEVICE_REQUEST).and_then(|i| i.in_direct()).and_then(|d| {
    ///         let index = usize::from(*d.input.first().ok_or(Status::INVALID_PARAMETER)?);
    ///         d.data.get(index).map(|&b| usize::from(b)).ok_or(Status::INVALID_PARAMETER)
    ///     });
    ///     match result {
    ///         Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
    ///         Err(status) => irp.complete(status, cx).into(),
    ///     }
    /// }
    /// ```
    pub fn in_direct(self) -> Result<InDirect<'a>, Status> {
        if self.method() != METHOD_IN_DIRECT {
            return Err(Status::INVALID_PARAMETER);
        }
        let input = self.direct_input()?;
        let va = mdl_buffer(self.irp, self.output_len)?;
        // SAFETY: the MDL describes at least `output_len` bytes, locked for the request and
        // mapped at `va` until it completes, after `'a`; they are only read, as the I/O manager
        // allowed (IoReadAccess).
        let data = unsafe { slice(va.as_ptr(), self.output_len) }?;
        Ok(InDirect { input, data })
    }

    /// The buffers of a METHOD_OUT_DIRECT request (see [`OutDirect`]): STATUS_INVALID_PARAMETER
    /// for another method, or if a non-empty buffer is missing or its MDL is shorter than the
    /// request says; STATUS_INSUFFICIENT_RESOURCES if the MDL cannot be mapped. An empty buffer
    /// is an empty slice.
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// // Answer with the input, repeated over the whole output.
    /// fn repeat<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let result = irp.ioctl().ok_or(Status::INVALID_DEVICE_REQUEST).and_then(|i| i.out_direct()).and_then(|d| {
    ///         if d.input.is_empty() {
    ///             return Err(Status::INVALID_PARAMETER);
    ///         }
    ///         for (out, byte) in d.output.iter_mut().zip(d.input.iter().cycle()) {
    ///             *out = *byte;
    ///         }
    ///         Ok(d.output.len())
    ///     });
    ///     match result {
    ///         Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
    ///         Err(status) => irp.complete(status, cx).into(),
    ///     }
    /// }
    /// ```
    pub fn out_direct(self) -> Result<OutDirect<'a>, Status> {
        if self.method() != METHOD_OUT_DIRECT {
            return Err(Status::INVALID_PARAMETER);
        }
        let input = self.direct_input()?;
        let va = mdl_buffer(self.irp, self.output_len)?;
        // SAFETY: the MDL describes at least `output_len` bytes, locked for write access
        // (IoWriteAccess) and mapped at `va` until the request completes, after `'a`; the IRP
        // is lent exclusively for `'a`, and the input is a separate (system) buffer.
        let output = unsafe { slice_mut(va.as_ptr(), self.output_len) }?;
        Ok(OutDirect { input, output })
    }

    /// The buffers of a METHOD_NEITHER request, reached only by copying: see [`UserBuffers`].
    ///
    /// STATUS_INVALID_PARAMETER for another method; STATUS_INVALID_DEVICE_REQUEST from a pended
    /// IRP ([`PendingIrp::ioctl`]): the addresses belong to the requesting process, and only the
    /// dispatch routine runs in its context.
    ///
    /// ```
    /// # use wdm::{Irp, Outcome, Status, Unlocked};
    /// fn echo<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let result = match irp.ioctl().map(|ioctl| ioctl.user_buffers()) {
    ///         Some(Ok(mut user)) => {
    ///             let mut data = [0u8; 64];
    ///             user.read_input(&mut data, cx).and_then(|n| user.write_output(&data[..n], cx))
    ///         }
    ///         Some(Err(status)) => Err(status),
    ///         None => Err(Status::INVALID_DEVICE_REQUEST),
    ///     };
    ///     match result {
    ///         Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
    ///         Err(status) => irp.complete(status, cx).into(),
    ///     }
    /// }
    /// ```
    pub fn user_buffers(self) -> Result<UserBuffers<'a>, Status> {
        if self.method() != METHOD_NEITHER {
            return Err(Status::INVALID_PARAMETER);
        }
        if !self.in_caller_context {
            return Err(Status::INVALID_DEVICE_REQUEST);
        }
        // SAFETY: reading the DeviceIoControl member of the current location's parameters.
        let input = unsafe { location(self.irp).Parameters.DeviceIoControl.Type3InputBuffer };
        // SAFETY: the IRP is live and lent to `self`; a field by raw place.
        let requestor_mode = unsafe { (*self.irp.as_ptr()).RequestorMode };
        Ok(UserBuffers {
            input: input as usize,
            input_len: self.input_len,
            output: self.user_buffer() as usize,
            output_len: self.output_len,
            from_user_mode: requestor_mode != wdm_sys::_MODE::KernelMode as i8,
            _irp: PhantomData,
        })
    }

    /// The raw user-mode addresses of a METHOD_NEITHER request: (input, output).
    ///
    /// # Safety
    /// They are user-mode addresses, valid (if at all) only in the requesting process's context,
    /// and the process may unmap or change them at any time. C drivers touch them only inside
    /// `__try`/`__except` after ProbeForRead/ProbeForWrite; Rust cannot catch the access
    /// violation, so the caller takes full responsibility for every access.
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn raw_addresses<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     // SAFETY: only the addresses are looked at; nothing is read or written through them.
    ///     let status = match irp.ioctl().map(|i| unsafe { i.neither() }) {
    ///         Some(Ok((input, _output))) if !input.is_null() => Status::SUCCESS,
    ///         Some(Ok(_)) => Status::INVALID_PARAMETER,
    ///         Some(Err(status)) => status,
    ///         None => Status::INVALID_DEVICE_REQUEST,
    ///     };
    ///     irp.complete(status, cx).into()
    /// }
    /// ```
    pub unsafe fn neither(self) -> Result<(*const u8, *mut u8), Status> {
        if self.method() != METHOD_NEITHER {
            return Err(Status::INVALID_PARAMETER);
        }
        // SAFETY: reading the DeviceIoControl member of the current location's parameters.
        let input = unsafe { location(self.irp).Parameters.DeviceIoControl.Type3InputBuffer };
        Ok((input.cast_const().cast(), self.user_buffer()))
    }
}

/// The device-control parameters of `irp`, or `None` for another request.
fn ioctl_of<'a>(irp: NonNull<IRP>, in_caller_context: bool) -> Option<Ioctl<'a>> {
    let loc = location(irp);
    let major = u32::from(loc.MajorFunction);
    if major != IRP_MJ_DEVICE_CONTROL && major != IRP_MJ_INTERNAL_DEVICE_CONTROL {
        return None;
    }
    // SAFETY: the DeviceIoControl member is the one the I/O manager set for these majors.
    let p = unsafe { loc.Parameters.DeviceIoControl };
    Some(Ioctl {
        // The caller owns the live IRP and lends it exclusively for `'a`.
        irp,
        _irp: PhantomData,
        in_caller_context,
        code: p.IoControlCode,
        input_len: p.InputBufferLength as usize,
        output_len: p.OutputBufferLength as usize,
    })
}

pub(crate) fn transfer_length_of(irp: NonNull<IRP>) -> Option<usize> {
    let loc = location(irp);
    match u32::from(loc.MajorFunction) {
        IRP_MJ_READ | IRP_MJ_WRITE => {
            // SAFETY: the Read and Write members share their layout; set for these majors.
            let length = unsafe { loc.Parameters.Read.Length };
            Some(length as usize)
        }
        _ => None,
    }
}

/// Where a read's or write's data is on a buffered or direct device, and how long it is:
/// STATUS_INVALID_DEVICE_REQUEST for another request, a neither-I/O device, or (with
/// `to_fill`) a write, whose data is the caller's to read only.
fn transfer_buffer(irp: NonNull<IRP>, to_fill: bool) -> Result<(NonNull<u8>, usize), Status> {
    let loc = location(irp);
    let major = u32::from(loc.MajorFunction);
    if major != IRP_MJ_READ && (to_fill || major != IRP_MJ_WRITE) {
        return Err(Status::INVALID_DEVICE_REQUEST);
    }
    // SAFETY: the Read and Write members share their layout; set for these majors.
    let len = unsafe { loc.Parameters.Read.Length } as usize;
    // SAFETY: a live device: the IRP's current location names the device it was sent to.
    let flags = unsafe { (*loc.DeviceObject).Flags };
    let p = if flags & DO_BUFFERED_IO != 0 {
        // By raw place, not through `&IRP` (see `Ioctl`).
        // SAFETY: the caller owns the live IRP; only the field's address is computed.
        let system = unsafe { &raw const (*irp.as_ptr()).AssociatedIrp.SystemBuffer };
        // SAFETY: as above: the system buffer of a buffered read or write.
        start(unsafe { system.read() }.cast(), len)?
    } else if flags & DO_DIRECT_IO != 0 {
        mdl_buffer(irp, len)?
    } else {
        return Err(Status::INVALID_DEVICE_REQUEST);
    };
    Ok((p, len))
}

/// A read's buffer or a write's data, read-only.
pub(crate) fn data_of<'a>(irp: NonNull<IRP>) -> Result<&'a [u8], Status> {
    let (p, len) = transfer_buffer(irp, false)?;
    // SAFETY: the sender provided `len` bytes at `p` for this request (a system buffer, or
    // pages locked for the transfer and mapped: a write's for read access, a read's for write
    // access, which includes read access), the owner's while it owns the IRP (the caller's
    // borrow, shared or exclusive, for `'a`); they are only read.
    Ok(unsafe { core::slice::from_raw_parts(p.as_ptr(), len) })
}

/// A read's buffer, to fill (STATUS_INVALID_DEVICE_REQUEST for a write).
pub(crate) fn data_mut_of<'a>(irp: NonNull<IRP>) -> Result<&'a mut [u8], Status> {
    let (p, len) = transfer_buffer(irp, true)?;
    // SAFETY: a read: the sender provided `len` writable bytes at `p` (a system buffer, or
    // pages locked for write access and mapped), the owner's alone while it owns the IRP (the
    // caller's exclusive borrow for `'a`).
    Ok(unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), len) })
}

impl<'irp> Irp<'irp> {
    /// The device-control parameters, or `None` for another request.
    ///
    /// ```
    /// # use wdm::{Irp, Outcome, Status, Unlocked};
    /// fn device_control<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let answered = match irp.ioctl().map(|ioctl| ioctl.buffered()) {
    ///         Some(Ok(mut buffer)) => match buffer.output().first_mut() {
    ///             Some(byte) => {
    ///                 *byte = 42;
    ///                 Ok(1)
    ///             }
    ///             None => Err(Status::BUFFER_TOO_SMALL),
    ///         },
    ///         Some(Err(status)) => Err(status),
    ///         None => Err(Status::INVALID_DEVICE_REQUEST),
    ///     };
    ///     match answered {
    ///         Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
    ///         Err(status) => irp.complete(status, cx).into(),
    ///     }
    /// }
    /// ```
    pub fn ioctl(&mut self) -> Option<Ioctl<'_>> {
        ioctl_of(self.raw(), true)
    }

    /// The length of a read or write request (`None` for another request).
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn write<'irp>(irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     match irp.transfer_length() {
    ///         Some(n) if n > 4096 => irp.complete(Status::INVALID_BUFFER_SIZE, cx).into(),
    ///         Some(n) => irp.complete_with(Status::SUCCESS, n, cx).into(), // accept it all
    ///         None => irp.complete(Status::INVALID_DEVICE_REQUEST, cx).into(),
    ///     }
    /// }
    /// ```
    pub fn transfer_length(&self) -> Option<usize> {
        transfer_length_of(self.raw())
    }

    /// A write's data (to consume) or a read's buffer, read-only, on a device with buffered or
    /// direct I/O: exactly [`transfer_length`](Irp::transfer_length) bytes. A direct write's
    /// data is the caller's own memory, locked for read access only, so it is never lent out
    /// mutably; a read's buffer, to fill, is [`data_mut`](Irp::data_mut).
    ///
    /// STATUS_INVALID_DEVICE_REQUEST for other requests or neither-I/O devices;
    /// STATUS_INVALID_PARAMETER if a non-empty buffer is missing or its MDL is shorter than the
    /// length (a kernel-mode sender's mistake); STATUS_INSUFFICIENT_RESOURCES if the MDL cannot
    /// be mapped. A zero-length request has an empty slice.
    ///
    /// ```
    /// # use wdm::{Irp, Outcome, Status, Unlocked};
    /// // A write: consume the data (here, refuse anything but ASCII).
    /// fn write<'irp>(irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     match irp.data() {
    ///         Ok(data) if data.is_ascii() => {
    ///             let n = data.len();
    ///             irp.complete_with(Status::SUCCESS, n, cx).into()
    ///         }
    ///         Ok(_) => irp.complete(Status::INVALID_PARAMETER, cx).into(),
    ///         Err(status) => irp.complete(status, cx).into(),
    ///     }
    /// }
    /// ```
    pub fn data(&self) -> Result<&[u8], Status> {
        data_of(self.raw())
    }

    /// A read's buffer, to fill, on a device with buffered or direct I/O: exactly
    /// [`transfer_length`](Irp::transfer_length) bytes. STATUS_INVALID_DEVICE_REQUEST for a
    /// write (its data is read-only: [`data`](Irp::data)), for other requests and for
    /// neither-I/O devices; otherwise as [`data`](Irp::data).
    ///
    /// ```
    /// # use wdm::{Irp, Outcome, Status, Unlocked};
    /// fn read<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     match irp.data_mut() {
    ///         Ok(buffer) => {
    ///             buffer.fill(0xAB);
    ///             let n = buffer.len();
    ///             irp.complete_with(Status::SUCCESS, n, cx).into()
    ///         }
    ///         Err(status) => irp.complete(status, cx).into(),
    ///     }
    /// }
    /// ```
    pub fn data_mut(&mut self) -> Result<&mut [u8], Status> {
        data_mut_of(self.raw())
    }

    /// The user-mode buffer of a read or write on a neither-I/O device.
    ///
    /// # Safety
    /// A user-mode address: see [`Ioctl::neither`].
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn where_is_it<'irp>(irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     // SAFETY: the address is only compared, never dereferenced.
    ///     let null = unsafe { irp.user_buffer() }.is_null();
    ///     irp.complete(if null { Status::INVALID_USER_BUFFER } else { Status::SUCCESS }, cx).into()
    /// }
    /// ```
    pub unsafe fn user_buffer(&self) -> *mut u8 {
        // SAFETY: we own the live IRP.
        unsafe { (*self.raw().as_ptr()).UserBuffer.cast() }
    }
}

impl PendingIrp {
    /// As [`Irp::ioctl`], for a request the driver has pended (for example to answer it later
    /// from a queue or a DPC). Its buffers are system-space, valid in any context.
    ///
    /// ```
    /// use wdm::{PendingIrp, Status, Unlocked};
    ///
    /// // A pended IOCTL answered later (from a DPC, a worker): its buffers are system-space.
    /// fn answer_later(mut irp: PendingIrp, cx: &Unlocked) {
    ///     let result = irp.ioctl().ok_or(Status::INVALID_DEVICE_REQUEST).and_then(|i| i.buffered()).map(|mut b| {
    ///         b.output().fill(1);
    ///         b.output().len()
    ///     });
    ///     match result {
    ///         Ok(n) => irp.complete_with(Status::SUCCESS, n, cx),
    ///         Err(status) => irp.complete(status, cx),
    ///     }
    /// }
    /// ```
    pub fn ioctl(&mut self) -> Option<Ioctl<'_>> {
        ioctl_of(self.raw(), false)
    }

    /// As [`Irp::transfer_length`].
    ///
    /// ```
    /// use wdm::{PendingIrp, Status, Unlocked};
    ///
    /// fn finish(write: PendingIrp, cx: &Unlocked) {
    ///     let n = write.transfer_length().unwrap_or(0);
    ///     write.complete_with(Status::SUCCESS, n, cx);
    /// }
    /// ```
    pub fn transfer_length(&self) -> Option<usize> {
        transfer_length_of(self.raw())
    }

    /// As [`Irp::data`]: a pended write's data (or read's buffer), read-only, valid in any
    /// context.
    ///
    /// ```
    /// # use wdm::{PendingIrp, Status, Unlocked};
    /// fn finish_write(write: PendingIrp, cx: &Unlocked) {
    ///     match write.data() {
    ///         Ok(data) => {
    ///             let n = data.len(); // consumed
    ///             write.complete_with(Status::SUCCESS, n, cx);
    ///         }
    ///         Err(status) => write.complete(status, cx),
    ///     }
    /// }
    /// ```
    pub fn data(&self) -> Result<&[u8], Status> {
        data_of(self.raw())
    }

    /// As [`Irp::data_mut`]: a pended read's buffer, to fill, valid in any context
    /// (STATUS_INVALID_DEVICE_REQUEST for a write).
    ///
    /// ```
    /// # use wdm::{PendingIrp, Status, Unlocked};
    /// fn finish_read(mut read: PendingIrp, cx: &Unlocked) {
    ///     match read.data_mut() {
    ///         Ok(buffer) => {
    ///             buffer.fill(7);
    ///             let n = buffer.len();
    ///             read.complete_with(Status::SUCCESS, n, cx);
    ///         }
    ///         Err(status) => read.complete(status, cx),
    ///     }
    /// }
    /// ```
    pub fn data_mut(&mut self) -> Result<&mut [u8], Status> {
        data_mut_of(self.raw())
    }
}

/// The buffering method of a control code: how the I/O manager passes its buffers.
///
/// ```
/// use wdm::{FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, Method, ctl_code};
///
/// const IOCTL_READ_DIRECT: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x801, Method::OutDirect, FILE_ANY_ACCESS);
/// assert_eq!(IOCTL_READ_DIRECT & 3, Method::OutDirect as u32);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Method {
    /// `METHOD_BUFFERED`: both buffers copied through one system buffer ([`Ioctl::buffered`]).
    Buffered = METHOD_BUFFERED,
    /// `METHOD_IN_DIRECT`: input buffered, second buffer locked for reading ([`Ioctl::in_direct`]).
    InDirect = METHOD_IN_DIRECT,
    /// `METHOD_OUT_DIRECT`: input buffered, second buffer locked for writing ([`Ioctl::out_direct`]).
    OutDirect = METHOD_OUT_DIRECT,
    /// `METHOD_NEITHER`: the caller's user-mode addresses ([`Ioctl::neither`]).
    Neither = METHOD_NEITHER,
}

/// `FILE_DEVICE_UNKNOWN`, the device type of devices made with [`DeviceOptions::new`](crate::DeviceOptions::new).
///
/// ```
/// assert_eq!(wdm::ctl_code(wdm::FILE_DEVICE_UNKNOWN, 0x800, wdm::Method::Buffered, wdm::FILE_ANY_ACCESS), 0x0022_2000);
/// ```
pub const FILE_DEVICE_UNKNOWN: u32 = wdm_sys::FILE_DEVICE_UNKNOWN;
/// `FILE_ANY_ACCESS`: any handle may send the control code.
///
/// ```
/// use wdm::{FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, Method, ctl_code};
/// // Any handle may send it.
/// const IOCTL_QUERY: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x802, Method::Buffered, FILE_ANY_ACCESS);
/// assert_eq!((IOCTL_QUERY >> 14) & 3, 0);
/// ```
pub const FILE_ANY_ACCESS: u32 = wdm_sys::FILE_ANY_ACCESS;
/// `FILE_READ_DATA`: only handles opened for reading may send the control code.
///
/// ```
/// use wdm::{FILE_DEVICE_UNKNOWN, FILE_READ_ACCESS, Method, ctl_code};
/// // Only handles opened for reading may send it (the I/O manager checks).
/// const IOCTL_GET: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x803, Method::Buffered, FILE_READ_ACCESS);
/// assert_eq!((IOCTL_GET >> 14) & 3, 1);
/// ```
pub const FILE_READ_ACCESS: u32 = wdm_sys::FILE_READ_DATA;
/// `FILE_WRITE_DATA`: only handles opened for writing may send the control code.
///
/// ```
/// use wdm::{FILE_DEVICE_UNKNOWN, FILE_WRITE_ACCESS, Method, ctl_code};
/// // Only handles opened for writing may send it.
/// const IOCTL_SET: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x804, Method::Buffered, FILE_WRITE_ACCESS);
/// assert_eq!((IOCTL_SET >> 14) & 3, 2);
/// ```
pub const FILE_WRITE_ACCESS: u32 = wdm_sys::FILE_WRITE_DATA;

/// A control code, as the `CTL_CODE` macro builds it. Functions 0x800 and up are for vendors.
///
/// ```
/// use wdm::{FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, Method, ctl_code};
/// const IOCTL_PING: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x800, Method::Buffered, FILE_ANY_ACCESS);
/// assert_eq!(IOCTL_PING, 0x0022_2000);
/// ```
pub const fn ctl_code(device_type: u32, function: u32, method: Method, access: u32) -> u32 {
    wdm_sys::ntddk::CTL_CODE(device_type, function, method as u32, access)
}
