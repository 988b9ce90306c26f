//! IRPs as owned values.

use core::ptr::NonNull;

use wdm_sys::ntddk::{IoCompleteRequest, IoGetCurrentIrpStackLocation};
use wdm_sys::{IO_NO_INCREMENT, IRP};

use crate::Status;

/// An I/O request this driver owns.
///
/// It is not `Clone`: there is one owner, and [`complete`](Irp::complete) consumes it, so an IRP
/// cannot be completed twice or touched after completion (SDV DoubleCompletion).
pub struct Irp {
    raw: NonNull<IRP>,
}

// SAFETY: an IRP is not tied to the thread that received it; drivers queue IRPs and complete
// them from DPCs and worker threads. Ownership (one `Irp` value) keeps access exclusive.
unsafe impl Send for Irp {}

/// Proof that a dispatch routine completed its IRP: only [`Irp::complete`] makes one.
#[must_use = "a dispatch routine returns the outcome of its IRP"]
pub struct Completed {
    status: Status,
}

impl Completed {
    /// The status the IRP was completed with.
    pub fn status(&self) -> Status {
        self.status
    }
}

/// What a dispatch routine did with its IRP; each variant can only be made by doing it.
#[must_use = "a dispatch routine returns the outcome of its IRP"]
pub enum Outcome {
    /// The IRP was completed here.
    Completed(Completed),
}

impl From<Completed> for Outcome {
    fn from(c: Completed) -> Self {
        Outcome::Completed(c)
    }
}

impl Outcome {
    /// The NTSTATUS the dispatch routine returns to the I/O manager.
    pub(crate) fn status(&self) -> Status {
        match self {
            Outcome::Completed(c) => c.status,
        }
    }
}

impl Irp {
    /// Takes ownership of an IRP the I/O manager handed to a dispatch routine.
    ///
    /// # Safety
    /// `raw` must be a live IRP that the caller owns and gives up.
    pub(crate) unsafe fn from_raw(raw: NonNull<IRP>) -> Self {
        Self { raw }
    }

    /// The major function code of the current stack location (`IRP_MJ_*`).
    #[must_use]
    pub fn major_function(&self) -> u8 {
        // SAFETY: we own a live IRP; its current location is valid while we own it.
        let location = unsafe { IoGetCurrentIrpStackLocation(self.raw.as_ptr()) };
        // SAFETY: as above.
        unsafe { (*location).MajorFunction }
    }

    /// Completes the IRP with `status` and no information.
    pub fn complete(self, status: Status) -> Completed {
        self.complete_with(status, 0)
    }

    /// Completes the IRP with `status` and `information` (for reads and writes, the number of
    /// bytes transferred).
    pub fn complete_with(self, status: Status, information: usize) -> Completed {
        let irp = self.raw.as_ptr();
        // SAFETY: we own the IRP until the completion below.
        let i = unsafe { &mut *irp };
        i.IoStatus.__bindgen_anon_1.Status = status.raw();
        i.IoStatus.Information = information as _;
        // SAFETY: we own the IRP and give it up here; `self` is consumed, so it is never
        // touched again: completed exactly once.
        unsafe { IoCompleteRequest(irp, IO_NO_INCREMENT as _) };
        Completed { status }
    }
}
