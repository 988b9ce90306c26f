//! NTSTATUS as a type, and the statuses an IRP may be completed with.
//!
//! A [`Status`] is never STATUS_PENDING: completing an IRP with STATUS_PENDING is a bug (SDV
//! CompleteRequestStatusCheck; Driver Verifier 0xC9/0x6), and STATUS_PENDING is what a dispatch
//! routine returns for an IRP it marked pending, which in `wdm` only
//! [`Irp::mark_pending`](crate::Irp::mark_pending) does. So [`Status::PENDING`] is not a
//! `Status` but a [`Pending`], which no completion method accepts ([`CompletionStatus`]), and
//! [`Status::new`] refuses the raw value.

use core::fmt;

use wdm_sys::NTSTATUS;

/// An NTSTATUS value.
///
/// A newtype rather than a bare `i32`, so a status cannot be confused with a length or a count,
/// and never STATUS_PENDING, so every `Status` is one an IRP may be completed with. The
/// constants are the codes a driver returns most; any other code converts with
/// [`Status::new`].
///
/// ```
/// use wdm::Status;
///
/// assert!(Status::SUCCESS.is_success());
/// assert_eq!(Status::CANCELLED.raw() as u32, 0xC000_0120);
/// assert_eq!(Status::new(0xC000_0023_u32 as i32), Some(Status::BUFFER_TOO_SMALL));
/// assert_eq!(Status::new(wdm::sys::STATUS_PENDING), None); // not a completion status
/// assert!(Status::INVALID_PARAMETER.ok().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
#[must_use]
pub struct Status(NTSTATUS);

impl Status {
    /// `STATUS_SUCCESS`.
    ///
    /// ```
    /// assert_eq!(wdm::Status::SUCCESS.raw() as u32, 0x00000000); // as a debugger shows it
    /// ```
    pub const SUCCESS: Self = Self(wdm_sys::STATUS_SUCCESS);
    /// `STATUS_PENDING`: what a dispatch routine returns for an IRP it marked pending. Not a
    /// [`Status`] (it is a [`Pending`]), so no IRP can be completed with it.
    ///
    /// ```
    /// assert_eq!(wdm::Status::PENDING.raw() as u32, 0x00000103); // as a debugger shows it
    /// ```
    pub const PENDING: Pending = Pending;
    /// `STATUS_CANCELLED`.
    ///
    /// ```
    /// assert_eq!(wdm::Status::CANCELLED.raw() as u32, 0xc0000120); // as a debugger shows it
    /// ```
    pub const CANCELLED: Self = Self(wdm_sys::STATUS_CANCELLED);
    /// `STATUS_UNSUCCESSFUL`.
    ///
    /// ```
    /// assert_eq!(wdm::Status::UNSUCCESSFUL.raw() as u32, 0xc0000001); // as a debugger shows it
    /// ```
    pub const UNSUCCESSFUL: Self = Self(wdm_sys::STATUS_UNSUCCESSFUL);
    /// `STATUS_INVALID_DEVICE_REQUEST`: the request is not supported by this device.
    ///
    /// ```
    /// assert_eq!(wdm::Status::INVALID_DEVICE_REQUEST.raw() as u32, 0xc0000010); // as a debugger shows it
    /// ```
    pub const INVALID_DEVICE_REQUEST: Self = Self(wdm_sys::STATUS_INVALID_DEVICE_REQUEST);
    /// `STATUS_INVALID_PARAMETER`.
    ///
    /// ```
    /// assert_eq!(wdm::Status::INVALID_PARAMETER.raw() as u32, 0xc000000d); // as a debugger shows it
    /// ```
    pub const INVALID_PARAMETER: Self = Self(wdm_sys::STATUS_INVALID_PARAMETER);
    /// `STATUS_BUFFER_TOO_SMALL`: an output buffer cannot hold the result.
    ///
    /// ```
    /// assert_eq!(wdm::Status::BUFFER_TOO_SMALL.raw() as u32, 0xc0000023); // as a debugger shows it
    /// ```
    pub const BUFFER_TOO_SMALL: Self = Self(wdm_sys::STATUS_BUFFER_TOO_SMALL);
    /// `STATUS_INSUFFICIENT_RESOURCES`: an allocation failed.
    ///
    /// ```
    /// assert_eq!(wdm::Status::INSUFFICIENT_RESOURCES.raw() as u32, 0xc000009a); // as a debugger shows it
    /// ```
    pub const INSUFFICIENT_RESOURCES: Self = Self(wdm_sys::STATUS_INSUFFICIENT_RESOURCES);
    /// `STATUS_NOT_SUPPORTED`.
    ///
    /// ```
    /// assert_eq!(wdm::Status::NOT_SUPPORTED.raw() as u32, 0xc00000bb); // as a debugger shows it
    /// ```
    pub const NOT_SUPPORTED: Self = Self(wdm_sys::STATUS_NOT_SUPPORTED);
    /// `STATUS_NO_SUCH_DEVICE`.
    ///
    /// ```
    /// assert_eq!(wdm::Status::NO_SUCH_DEVICE.raw() as u32, 0xc000000e); // as a debugger shows it
    /// ```
    pub const NO_SUCH_DEVICE: Self = Self(wdm_sys::STATUS_NO_SUCH_DEVICE);
    /// `STATUS_DELETE_PENDING`: the device is being removed (what a PnP device's requests get
    /// once REMOVE has begun, and creates after QUERY_REMOVE).
    ///
    /// ```
    /// assert_eq!(wdm::Status::DELETE_PENDING.raw() as u32, 0xc0000056); // as a debugger shows it
    /// ```
    pub const DELETE_PENDING: Self = Self(wdm_sys::STATUS_DELETE_PENDING);
    /// `STATUS_DEVICE_NOT_READY`: a PnP device's requests before it has started.
    ///
    /// ```
    /// assert_eq!(wdm::Status::DEVICE_NOT_READY.raw() as u32, 0xc00000a3); // as a debugger shows it
    /// ```
    pub const DEVICE_NOT_READY: Self = Self(wdm_sys::STATUS_DEVICE_NOT_READY);
    /// `STATUS_DEVICE_BUSY`.
    ///
    /// ```
    /// assert_eq!(wdm::Status::DEVICE_BUSY.raw() as u32, 0x80000011); // as a debugger shows it
    /// ```
    pub const DEVICE_BUSY: Self = Self(wdm_sys::STATUS_DEVICE_BUSY);
    /// STATUS_INVALID_DEVICE_STATE: the device (or driver) is not in a state for the request.
    ///
    /// ```
    /// assert_eq!(wdm::Status::INVALID_DEVICE_STATE.raw() as u32, 0xc0000184); // as a debugger shows it
    /// ```
    pub const INVALID_DEVICE_STATE: Self = Self(wdm_sys::STATUS_INVALID_DEVICE_STATE);
    /// STATUS_INVALID_BUFFER_SIZE: a buffer's size is not one the request accepts.
    ///
    /// ```
    /// assert_eq!(wdm::Status::INVALID_BUFFER_SIZE.raw() as u32, 0xc0000206); // as a debugger shows it
    /// ```
    pub const INVALID_BUFFER_SIZE: Self = Self(wdm_sys::STATUS_INVALID_BUFFER_SIZE);
    /// STATUS_BUFFER_OVERFLOW: the data did not fit; part of it was returned (a warning).
    ///
    /// ```
    /// assert_eq!(wdm::Status::BUFFER_OVERFLOW.raw() as u32, 0x80000005); // as a debugger shows it
    /// ```
    pub const BUFFER_OVERFLOW: Self = Self(wdm_sys::STATUS_BUFFER_OVERFLOW);
    /// STATUS_ACCESS_VIOLATION: a caller's address could not be read or written.
    ///
    /// ```
    /// assert_eq!(wdm::Status::ACCESS_VIOLATION.raw() as u32, 0xc0000005); // as a debugger shows it
    /// ```
    pub const ACCESS_VIOLATION: Self = Self(wdm_sys::STATUS_ACCESS_VIOLATION);
    /// STATUS_INVALID_USER_BUFFER: a caller's buffer is not a valid user-mode range.
    ///
    /// ```
    /// assert_eq!(wdm::Status::INVALID_USER_BUFFER.raw() as u32, 0xc00000e8); // as a debugger shows it
    /// ```
    pub const INVALID_USER_BUFFER: Self = Self(wdm_sys::STATUS_INVALID_USER_BUFFER);

    /// Wraps a raw NTSTATUS; `None` for STATUS_PENDING, which is not a completion status.
    ///
    /// ```
    /// use wdm::Status;
    ///
    /// assert_eq!(Status::new(0), Some(Status::SUCCESS));
    /// assert_eq!(Status::new(wdm::sys::STATUS_PENDING), None);
    /// ```
    #[must_use]
    pub const fn new(status: NTSTATUS) -> Option<Self> {
        if status == wdm_sys::STATUS_PENDING {
            None
        } else {
            Some(Self(status))
        }
    }

    /// `Ok(())` for a success code (STATUS_PENDING included), the error otherwise: the result
    /// of a kernel routine, as a `Result`.
    ///
    /// ```
    /// use wdm::Status;
    ///
    /// assert_eq!(Status::check(0), Ok(()));
    /// assert_eq!(Status::check(0xC000_000D_u32 as i32), Err(Status::INVALID_PARAMETER));
    /// ```
    pub const fn check(status: NTSTATUS) -> Result<(), Status> {
        if wdm_sys::NT_SUCCESS(status) {
            Ok(())
        } else {
            Err(Self(status))
        }
    }

    /// The raw NTSTATUS.
    ///
    /// ```
    /// use wdm::Status;
    ///
    /// let dispatch_return: wdm::sys::NTSTATUS = Status::CANCELLED.raw();
    /// assert_eq!(dispatch_return as u32, 0xC000_0120);
    /// ```
    #[must_use]
    pub const fn raw(self) -> NTSTATUS {
        self.0
    }

    /// `NT_SUCCESS`: success or informational.
    ///
    /// ```
    /// use wdm::Status;
    ///
    /// assert!(Status::SUCCESS.is_success());
    /// assert!(!Status::BUFFER_OVERFLOW.is_success()); // a warning (0x8...), not success
    /// assert!(!Status::INVALID_PARAMETER.is_success());
    /// ```
    #[must_use]
    pub const fn is_success(self) -> bool {
        wdm_sys::NT_SUCCESS(self.0)
    }

    /// `Ok(())` for success codes, `Err(self)` otherwise.
    ///
    /// ```
    /// use wdm::Status;
    ///
    /// fn open() -> Result<(), Status> {
    ///     Status::SUCCESS.ok()?;
    ///     Ok(())
    /// }
    /// assert_eq!(open(), Ok(()));
    /// assert_eq!(Status::NO_SUCH_DEVICE.ok(), Err(Status::NO_SUCH_DEVICE));
    /// ```
    pub const fn ok(self) -> Result<(), Status> {
        if self.is_success() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Status({:#010x})", self.0 as u32)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0 as u32)
    }
}

impl From<Status> for NTSTATUS {
    fn from(s: Status) -> Self {
        s.0
    }
}

/// STATUS_PENDING, the type of [`Status::PENDING`]: what a dispatch routine returns for an IRP
/// it marked pending, and nothing an IRP can be completed with.
///
/// ```
/// use wdm::{Pending, Status};
///
/// let returned: wdm::sys::NTSTATUS = Status::PENDING.raw(); // compare with a dispatch return
/// assert_eq!(returned, wdm::sys::STATUS_PENDING);
/// let _: Pending = Status::PENDING;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pending;

impl Pending {
    /// The raw NTSTATUS, 0x103.
    ///
    /// ```
    /// assert_eq!(wdm::Status::PENDING.raw(), 0x103);
    /// ```
    #[must_use]
    pub const fn raw(self) -> NTSTATUS {
        wdm_sys::STATUS_PENDING
    }
}

impl crate::sealed::Sealed for Status {}

/// A status an IRP may be completed with: a [`Status`], never STATUS_PENDING (SDV
/// CompleteRequestStatusCheck). Sealed: only `Status` implements it.
///
/// ```compile_fail
/// use wdm::{Irp, Outcome, Status, Unlocked};
///
/// fn handler<'irp>(irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///     irp.complete(Status::PENDING, cx).into() // error: not a completion status
/// }
/// ```
///
/// ```
/// use wdm::{CompletionStatus, Status};
///
/// fn final_status(s: impl CompletionStatus) -> Status {
///     s.status()
/// }
/// assert_eq!(final_status(Status::SUCCESS), Status::SUCCESS);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a status an IRP can be completed with (SDV CompleteRequestStatusCheck)",
    label = "STATUS_PENDING is what a dispatch routine returns, never a completion status",
    note = "to finish later, mark the IRP pending (`irp.mark_pending()`), return its `Pended` proof, and complete the `PendingIrp` with its final status"
)]
pub trait CompletionStatus: crate::sealed::Sealed + Copy {
    /// The status.
    ///
    /// ```
    /// use wdm::{CompletionStatus, Status};
    ///
    /// assert_eq!(Status::CANCELLED.status(), Status::CANCELLED);
    /// ```
    fn status(self) -> Status;
}

impl CompletionStatus for Status {
    fn status(self) -> Status {
        self
    }
}
