//! NTSTATUS as a type.

use core::fmt;

use wdm_sys::NTSTATUS;

/// An NTSTATUS value.
///
/// A newtype rather than a bare `i32`, so a status cannot be confused with a length or a count.
/// The constants are the codes a driver returns most; any other code converts with
/// [`Status::from_raw`].
///
/// ```
/// use wdm::Status;
///
/// assert!(Status::SUCCESS.is_success());
/// assert_eq!(Status::CANCELLED.raw() as u32, 0xC000_0120);
/// assert_eq!(Status::from_raw(0xC000_0023_u32 as i32), Status::BUFFER_TOO_SMALL);
/// assert!(Status::INVALID_PARAMETER.ok().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
#[must_use]
pub struct Status(NTSTATUS);

impl Status {
    /// `STATUS_SUCCESS`.
    pub const SUCCESS: Self = Self(wdm_sys::STATUS_SUCCESS);
    /// `STATUS_PENDING`.
    pub const PENDING: Self = Self(wdm_sys::STATUS_PENDING);
    /// `STATUS_CANCELLED`.
    pub const CANCELLED: Self = Self(wdm_sys::STATUS_CANCELLED);
    /// `STATUS_UNSUCCESSFUL`.
    pub const UNSUCCESSFUL: Self = Self(wdm_sys::STATUS_UNSUCCESSFUL);
    /// `STATUS_INVALID_DEVICE_REQUEST`: the request is not supported by this device.
    pub const INVALID_DEVICE_REQUEST: Self = Self(wdm_sys::STATUS_INVALID_DEVICE_REQUEST);
    /// `STATUS_INVALID_PARAMETER`.
    pub const INVALID_PARAMETER: Self = Self(wdm_sys::STATUS_INVALID_PARAMETER);
    /// `STATUS_BUFFER_TOO_SMALL`: an output buffer cannot hold the result.
    pub const BUFFER_TOO_SMALL: Self = Self(wdm_sys::STATUS_BUFFER_TOO_SMALL);
    /// `STATUS_INSUFFICIENT_RESOURCES`: an allocation failed.
    pub const INSUFFICIENT_RESOURCES: Self = Self(wdm_sys::STATUS_INSUFFICIENT_RESOURCES);
    /// `STATUS_NOT_SUPPORTED`.
    pub const NOT_SUPPORTED: Self = Self(wdm_sys::STATUS_NOT_SUPPORTED);
    /// `STATUS_NO_SUCH_DEVICE`.
    pub const NO_SUCH_DEVICE: Self = Self(wdm_sys::STATUS_NO_SUCH_DEVICE);
    /// `STATUS_DEVICE_BUSY`.
    pub const DEVICE_BUSY: Self = Self(wdm_sys::STATUS_DEVICE_BUSY);
    /// STATUS_INVALID_DEVICE_STATE: the device (or driver) is not in a state for the request.
    pub const INVALID_DEVICE_STATE: Self = Self(wdm_sys::STATUS_INVALID_DEVICE_STATE);
    /// STATUS_INVALID_BUFFER_SIZE: a buffer's size is not one the request accepts.
    pub const INVALID_BUFFER_SIZE: Self = Self(wdm_sys::STATUS_INVALID_BUFFER_SIZE);
    /// STATUS_BUFFER_OVERFLOW: the data did not fit; part of it was returned (a warning).
    pub const BUFFER_OVERFLOW: Self = Self(wdm_sys::STATUS_BUFFER_OVERFLOW);
    /// STATUS_ACCESS_VIOLATION: a caller's address could not be read or written.
    pub const ACCESS_VIOLATION: Self = Self(wdm_sys::STATUS_ACCESS_VIOLATION);
    /// STATUS_INVALID_USER_BUFFER: a caller's buffer is not a valid user-mode range.
    pub const INVALID_USER_BUFFER: Self = Self(wdm_sys::STATUS_INVALID_USER_BUFFER);

    /// Wraps a raw NTSTATUS.
    pub const fn from_raw(status: NTSTATUS) -> Self {
        Self(status)
    }

    /// The raw NTSTATUS.
    #[must_use]
    pub const fn raw(self) -> NTSTATUS {
        self.0
    }

    /// `NT_SUCCESS`: success or informational.
    #[must_use]
    pub const fn is_success(self) -> bool {
        wdm_sys::NT_SUCCESS(self.0)
    }

    /// `Ok(())` for success codes, `Err(self)` otherwise.
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
