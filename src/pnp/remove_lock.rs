//! Taking a PnP device's remove lock explicitly, for work a request hands out.
//!
//! Every request dispatched to a PnP device already holds the lock until it is completed or
//! forwarded: drivers never take it for the request itself. Work that outlives the request (a
//! system thread, or any other context a handler hands work to) takes its own acquisition with
//! [`Irp::acquire_remove_lock`](crate::Irp::acquire_remove_lock), a guard that releases it when
//! dropped, so REMOVE waits for that work too before the device and its state go. (The
//! framework's `Timer` and `WorkItem` are made from a legacy driver's `DriverObject` and are not
//! yet available to PnP devices.)

use core::ptr::NonNull;

use wdm_sys::IO_REMOVE_LOCK;
use wdm_sys::ntddk::{IoAcquireRemoveLock, IoReleaseRemoveLock};

use crate::{Irp, Status};

/// One acquisition of a PnP device's remove lock; dropping it releases it.
///
/// While it exists the device is not deleted: REMOVE waits for it (so a guard kept forever,
/// or forgotten, makes REMOVE wait forever; the simulator reports the hang). It is not `Clone`:
/// each acquisition is released exactly once (SDV RemoveLock, RemoveLockRelease2).
///
/// ```
/// use wdm::pnp::RemoveLockGuard;
/// use wdm::{Irp, Outcome, Status, Unlocked};
///
/// fn hand_out<'irp>(irp: Irp<'irp>, work: &wdm::SpinLock<Option<RemoveLockGuard>>, cx: &mut Unlocked) -> Outcome<'irp> {
///     match irp.acquire_remove_lock(u32::from_le_bytes(*b"work")) {
///         Ok(guard) => {
///             let old = work.with(cx, |w| w.replace(guard)); // held until the work is done
///             drop(old);
///             irp.complete(Status::SUCCESS, cx).into()
///         }
///         Err(status) => irp.complete(status, cx).into(), // STATUS_DELETE_PENDING: being removed
///     }
/// }
/// ```
#[must_use = "dropping the guard releases the remove lock at once"]
pub struct RemoveLockGuard {
    lock: NonNull<IO_REMOVE_LOCK>,
    tag: usize,
}

// SAFETY: the guard only releases the lock (IoReleaseRemoveLock is callable from any thread at
// <= DISPATCH_LEVEL); the lock stays live while the acquisition is held.
unsafe impl Send for RemoveLockGuard {}
// SAFETY: `&RemoveLockGuard` exposes nothing.
unsafe impl Sync for RemoveLockGuard {}

impl Drop for RemoveLockGuard {
    fn drop(&mut self) {
        // SAFETY: the acquisition this guard holds keeps the device (and the lock in its
        // extension) alive until this release.
        unsafe { IoReleaseRemoveLock(self.lock.as_ptr(), self.tag as *mut _) };
    }
}

impl Irp<'_> {
    /// Takes an acquisition of the remove lock of the PnP device this request was sent to,
    /// tagged `tag` (Driver Verifier matches each release to an acquisition by tag).
    /// STATUS_DELETE_PENDING once REMOVE has begun; STATUS_INVALID_DEVICE_REQUEST for a
    /// device that is not a PnP device (it has no remove lock).
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn check<'irp>(irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let status = match irp.acquire_remove_lock(1) {
    ///         Ok(_guard) => Status::SUCCESS, // released at the end of this block
    ///         Err(status) => status,
    ///     };
    ///     irp.complete(status, cx).into()
    /// }
    /// ```
    pub fn acquire_remove_lock(&self, tag: u32) -> Result<RemoveLockGuard, Status> {
        // SAFETY: the request's device is a live framework device while the request is owned.
        let lock = unsafe { super::device::remove_lock_of(self.device_object()) };
        let lock = NonNull::new(lock).ok_or(Status::INVALID_DEVICE_REQUEST)?;
        let tag = tag as usize;
        // SAFETY: an initialised lock (AddDevice), kept alive by this request's own acquisition.
        Status::check(unsafe { IoAcquireRemoveLock(lock.as_ptr(), tag as *mut _) })?;
        Ok(RemoveLockGuard { lock, tag })
    }
}
