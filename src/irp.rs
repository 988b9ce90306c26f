//! IRPs as owned values, and the outcome a dispatch routine must return.
//!
//! A dispatch routine receives an [`Irp<'irp>`](Irp) and must return an [`Outcome<'irp>`](Outcome)
//! for the same IRP. The three outcomes can only be made by doing the thing they say:
//!
//! | outcome | made by | SDV rules it enforces |
//! |---|---|---|
//! | [`Outcome::Completed`] | [`Irp::complete`] | IrpProcessingComplete, DoubleCompletion, PendedCompletedRequest |
//! | [`Outcome::Pending`] | [`Irp::mark_pending`] | MarkIrpPending, MarkIrpPending2 |
//! | [`Outcome::Forwarded`] | [`Irp::forward`] | LowerDriverReturn, MarkIrpPending2 |
//!
//! The `'irp` lifetime brands an IRP and its outcome: it is a different, invariant lifetime in
//! every call of a dispatch routine, so an outcome made for one IRP cannot be returned for
//! another, and the `Irp` itself cannot be stored past the call (a pended IRP becomes a
//! [`PendingIrp`], which can).

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU8, Ordering};

use wdm_sys::ntddk::{
    IoCallDriver, IoCompleteRequest, IoGetCurrentIrpStackLocation, IoMarkIrpPending, IoSkipCurrentIrpStackLocation,
};
use wdm_sys::{IO_NO_INCREMENT, IO_STACK_LOCATION, IRP};

use crate::{CompletionStatus, Status, Unlocked};

/// An invariant lifetime: `Irp<'a>` and `Outcome<'b>` only match when `'a` is `'b`.
type Brand<'irp> = PhantomData<fn(&'irp ()) -> &'irp ()>;

/// The IRP a dispatch routine received. It is not `Clone`, and every way to finish with it
/// consumes it, so it is completed at most once and never touched afterwards.
///
/// A handler returns the [`Outcome`] of what it did, which only doing it produces:
///
/// ```
/// use wdm::{Irp, IrpQueue, Outcome, Status, Unlocked};
///
/// fn handle<'irp>(queue: &IrpQueue, irp: Irp<'irp>, cx: &mut Unlocked, later: bool) -> Outcome<'irp> {
///     if later {
///         let (pending, pended) = irp.mark_pending(); // the only way to return STATUS_PENDING
///         queue.insert(pending, cx);
///         pended.into()
///     } else {
///         irp.complete(Status::SUCCESS, cx).into() // consumes the IRP
///     }
/// }
/// ```
pub struct Irp<'irp> {
    raw: NonNull<IRP>,
    _brand: Brand<'irp>,
}

/// Proof that the IRP was completed: only [`Irp::complete`] makes one.
///
/// ```
/// use wdm::{Irp, Outcome, Status, Unlocked};
///
/// fn handler<'irp>(irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///     let completed = irp.complete(Status::SUCCESS, cx);
///     assert_eq!(completed.status(), Status::SUCCESS);
///     completed.into()
/// }
/// ```
#[must_use = "a dispatch routine returns the outcome of its IRP"]
pub struct Completed<'irp> {
    status: Status,
    _brand: Brand<'irp>,
}

/// Proof that the IRP was marked pending: only [`Irp::mark_pending`] makes one. The dispatch
/// routine returns STATUS_PENDING with it.
///
/// ```
/// use wdm::{Irp, IrpQueue, Outcome, Unlocked};
///
/// fn later<'irp>(queue: &IrpQueue, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///     let (pending, pended) = irp.mark_pending();
///     queue.insert(pending, cx);
///     pended.into() // STATUS_PENDING
/// }
/// ```
#[must_use = "a dispatch routine returns the outcome of its IRP"]
pub struct Pended<'irp> {
    _brand: Brand<'irp>,
}

/// Proof that the IRP was passed to the next-lower driver: only [`Irp::forward`] makes one,
/// carrying the status that driver returned (which the dispatch routine must return).
///
/// ```
/// use wdm::{Irp, LowerDevice, Outcome, Unlocked};
///
/// fn down<'irp, D>(lower: &LowerDevice<D>, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///     let outcome = irp.forward(lower, cx); // `Outcome::Forwarded`, with the lower status
///     assert!(matches!(outcome, Outcome::Forwarded(_) | Outcome::Completed(_)));
///     outcome // returns what the lower driver returned
/// }
/// ```
#[must_use = "a dispatch routine returns the outcome of its IRP"]
pub struct Forwarded<'irp> {
    status: wdm_sys::NTSTATUS,
    _brand: Brand<'irp>,
}

/// What a dispatch routine did with its IRP.
///
/// ```
/// use wdm::{Irp, Outcome, Status, Unlocked};
///
/// fn handler<'irp>(irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///     let outcome: Outcome<'irp> = irp.complete(Status::NOT_SUPPORTED, cx).into();
///     assert_eq!(outcome.returned(), Status::NOT_SUPPORTED.raw()); // what the dispatch routine returns
///     outcome
/// }
/// ```
#[must_use = "a dispatch routine returns the outcome of its IRP"]
pub enum Outcome<'irp> {
    /// Completed here.
    Completed(Completed<'irp>),
    /// Marked pending and handed on (a queue, StartIo, a timer): returns STATUS_PENDING.
    Pending(Pended<'irp>),
    /// Passed to the next-lower driver: returns its status.
    Forwarded(Forwarded<'irp>),
}

impl<'irp> From<Completed<'irp>> for Outcome<'irp> {
    fn from(c: Completed<'irp>) -> Self {
        Outcome::Completed(c)
    }
}

impl<'irp> From<Pended<'irp>> for Outcome<'irp> {
    fn from(p: Pended<'irp>) -> Self {
        Outcome::Pending(p)
    }
}

impl<'irp> From<Forwarded<'irp>> for Outcome<'irp> {
    fn from(f: Forwarded<'irp>) -> Self {
        Outcome::Forwarded(f)
    }
}

impl Completed<'_> {
    /// The status the IRP was completed with.
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn handler<'irp>(irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let completed = irp.complete(Status::BUFFER_TOO_SMALL, cx);
    ///     assert!(!completed.status().is_success());
    ///     completed.into()
    /// }
    /// ```
    pub fn status(&self) -> Status {
        self.status
    }
}

impl Outcome<'_> {
    /// The NTSTATUS the dispatch routine returns to the I/O manager: the completion status,
    /// STATUS_PENDING, or what the lower driver returned. A raw NTSTATUS, not a [`Status`]:
    /// it may be STATUS_PENDING, which is no completion status.
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Unlocked};
    ///
    /// fn handler<'irp>(irp: Irp<'irp>, _cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let (_pending, pended) = irp.mark_pending(); // (dropping a pending IRP cancels it)
    ///     let outcome = Outcome::from(pended);
    ///     assert_eq!(outcome.returned(), wdm::Status::PENDING.raw());
    ///     outcome
    /// }
    /// ```
    #[must_use]
    pub fn returned(&self) -> wdm_sys::NTSTATUS {
        match self {
            Outcome::Completed(c) => c.status.raw(),
            Outcome::Pending(_) => Status::PENDING.raw(),
            Outcome::Forwarded(f) => f.status,
        }
    }
}

/// `Irp->Cancel` of an IRP the caller owns (IoCancelIrp may set it from any processor).
///
/// An atomic load, not a volatile read: volatile is not atomic, so a plain or volatile read
/// racing with IoCancelIrp's store is a data race in Rust's model. On x86-64 an acquire load
/// of a byte is the plain `mov` the C code compiles to (on ARM64 a load-acquire, `ldarb`).
pub(crate) fn cancel_requested(irp: NonNull<IRP>) -> bool {
    // SAFETY: an owned, live IRP; this only computes the field's address.
    let cancel = unsafe { &raw mut (*irp.as_ptr()).Cancel };
    // SAFETY: `Cancel` is a byte, suitably aligned, that the I/O manager sets (atomically)
    // while others may read it; the IRP stays live while the caller owns it.
    unsafe { AtomicU8::from_ptr(cancel) }.load(Ordering::Acquire) != 0
}

/// Completes an IRP the caller owns.
///
/// The IRP is written by raw place, never through a `&mut IRP`: IoCancelIrp may write
/// `Cancel`, `CancelIrql` and `CancelRoutine` from another processor at any time, even while
/// the driver owns the IRP, and a reference to the whole IRP would claim those bytes too.
fn complete_raw(irp: NonNull<IRP>, status: Status, information: usize) {
    let irp = irp.as_ptr();
    // SAFETY: the caller owns the live IRP until the completion below; only the field's
    // address is computed.
    let io_status = unsafe { &raw mut (*irp).IoStatus };
    // SAFETY: as above; only the field's address is computed.
    let status_field = unsafe { &raw mut (*io_status).__bindgen_anon_1.Status };
    // SAFETY: as above; the owner is the only writer of IoStatus (drivers write `Status`).
    unsafe { status_field.write(status.raw()) };
    // SAFETY: as above.
    unsafe { (*io_status).Information = information as _ };
    // SAFETY: the caller gives the IRP up here and never touches it again.
    unsafe { IoCompleteRequest(irp, IO_NO_INCREMENT as _) };
}

/// The current stack location of an IRP the caller owns.
fn location<'a>(irp: NonNull<IRP>) -> &'a IO_STACK_LOCATION {
    // SAFETY: an owned, live IRP; its current location is valid while it is owned.
    let location = unsafe { IoGetCurrentIrpStackLocation(irp.as_ptr()) };
    // SAFETY: as above.
    unsafe { &*location }
}

impl<'irp> Irp<'irp> {
    /// Takes ownership of an IRP the I/O manager handed to a dispatch routine.
    ///
    /// # Safety
    /// `raw` must be a live IRP that the caller owns and gives up, and `'irp` must not outlive
    /// the dispatch call.
    pub(crate) unsafe fn from_raw(raw: NonNull<IRP>) -> Self {
        Self {
            raw,
            _brand: PhantomData,
        }
    }

    pub(crate) fn raw(&self) -> NonNull<IRP> {
        self.raw
    }

    /// The device object the IRP was sent to (to tell a driver's devices apart).
    ///
    /// ```
    /// use wdm::{Device, Irp, Outcome, Status, Unlocked};
    ///
    /// fn create<'irp>(control: &Device, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let mine = core::ptr::eq(irp.device_object(), control.as_raw());
    ///     irp.complete(if mine { Status::SUCCESS } else { Status::INVALID_DEVICE_REQUEST }, cx).into()
    /// }
    /// ```
    #[must_use]
    pub fn device_object(&self) -> *const wdm_sys::DEVICE_OBJECT {
        location(self.raw).DeviceObject
    }

    /// The file object the request was made on (which handle it came through).
    ///
    /// ```
    /// use wdm::{Irp, IrpQueue, Outcome, Status, Unlocked};
    ///
    /// // IRP_MJ_CLEANUP: cancel what this handle queued.
    /// fn cleanup<'irp>(queue: &IrpQueue, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let file = irp.file_object();
    ///     while let Some(queued) = queue.remove_first(|q| q.file_object() == file, cx) {
    ///         queued.complete(Status::CANCELLED, cx);
    ///     }
    ///     irp.complete(Status::SUCCESS, cx).into()
    /// }
    /// ```
    #[must_use]
    pub fn file_object(&self) -> *const wdm_sys::FILE_OBJECT {
        location(self.raw).FileObject
    }

    /// The major function code of the current stack location (`IRP_MJ_*`).
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    /// use wdm::sys::IRP_MJ_READ;
    ///
    /// // One handler for reads and writes.
    /// fn transfer<'irp>(irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let is_read = u32::from(irp.major_function()) == IRP_MJ_READ;
    ///     irp.complete(if is_read { Status::SUCCESS } else { Status::NOT_SUPPORTED }, cx).into()
    /// }
    /// ```
    #[must_use]
    pub fn major_function(&self) -> u8 {
        location(self.raw).MajorFunction
    }

    /// Completes the IRP with `status` and no information. `cx` proves no spin lock is held
    /// (SDV SpinLockSafe).
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn create<'irp>(irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     irp.complete(Status::SUCCESS, cx).into()
    /// }
    /// ```
    pub fn complete(self, status: impl CompletionStatus, cx: &Unlocked) -> Completed<'irp> {
        self.complete_with(status, 0, cx)
    }

    /// Completes the IRP with `status` and `information` (for reads and writes, the number of
    /// bytes transferred).
    ///
    /// ```
    /// use wdm::{Irp, Outcome, Status, Unlocked};
    ///
    /// fn read<'irp>(irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let n = irp.transfer_length().unwrap_or(0);
    ///     irp.complete_with(Status::SUCCESS, n, cx).into() // "read" n bytes
    /// }
    /// ```
    pub fn complete_with(self, status: impl CompletionStatus, information: usize, _cx: &Unlocked) -> Completed<'irp> {
        self.complete_unchecked(status.status(), information)
    }

    /// Completes the IRP from framework code that holds no spin lock.
    pub(crate) fn complete_unchecked(self, status: Status, information: usize) -> Completed<'irp> {
        complete_raw(self.raw, status, information);
        Completed {
            status,
            _brand: PhantomData,
        }
    }

    /// Marks the IRP pending (IoMarkIrpPending). The IRP goes on as a [`PendingIrp`], to be
    /// queued or started and completed later; the dispatch routine returns the [`Pended`]
    /// proof. Marking is the only way to return STATUS_PENDING (SDV MarkIrpPending2), and after
    /// it the dispatch routine can return nothing else (SDV MarkIrpPending).
    ///
    /// ```
    /// use wdm::{Irp, Outcome, PendingIrp, SpinLock, Unlocked};
    ///
    /// fn park<'irp>(slot: &SpinLock<Option<PendingIrp>>, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let (pending, pended) = irp.mark_pending();
    ///     let older = slot.with(cx, |s| s.replace(pending));
    ///     drop(older); // an older one is completed as cancelled, outside the lock
    ///     pended.into()
    /// }
    /// ```
    pub fn mark_pending(self) -> (PendingIrp, Pended<'irp>) {
        // SAFETY: an owned, live IRP.
        unsafe { IoMarkIrpPending(self.raw.as_ptr()) };
        (PendingIrp { raw: self.raw }, Pended { _brand: PhantomData })
    }

    /// Passes the IRP, unchanged, to the next-lower device (IoSkipCurrentIrpStackLocation +
    /// IoCallDriver) and returns that driver's status for the dispatch routine to return.
    ///
    /// IoCallDriver runs the lower driver's dispatch routine (and maybe completion routines)
    /// before it returns: hence `cx`, the proof that no spin lock is held (the lower driver
    /// may complete, or come back into this driver and take the lock). Only an IRP sent to the
    /// device that attached `lower` is forwarded: its stack was sized for that stack. Any
    /// other IRP (sent to another device of this driver, whose stack does not go through
    /// `lower`) is completed with STATUS_INVALID_DEVICE_REQUEST instead.
    ///
    /// ```
    /// use wdm::{Irp, LowerDevice, Outcome, Unlocked};
    ///
    /// fn pass_through<'irp, D>(lower: &LowerDevice<D>, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     irp.forward(lower, cx)
    /// }
    /// ```
    pub fn forward<D>(self, lower: &crate::LowerDevice<D>, cx: &Unlocked) -> Outcome<'irp> {
        if !lower.is_below(self.device_object()) {
            return self.complete(Status::INVALID_DEVICE_REQUEST, cx).into();
        }
        let irp = self.raw.as_ptr();
        // SAFETY: an owned IRP sent to the device attached on `lower`: its stack has this
        // driver's location and the lower stack's below it, and skipping reuses this one.
        unsafe { IoSkipCurrentIrpStackLocation(irp) };
        // SAFETY: as above; the IRP now belongs to the lower driver.
        let status = unsafe { IoCallDriver(lower.as_raw(), irp) };
        Outcome::Forwarded(Forwarded {
            status,
            _brand: PhantomData,
        })
    }
}

/// An IRP marked pending: the driver owns it until it completes it, from any thread.
///
/// Dropping one completes it with STATUS_CANCELLED, so a pended IRP can never be lost, and
/// says so in the debug output (`wdm: a pending IRP was dropped ...`). (Drop it outside spin
/// locks: a drop needs no [`Unlocked`] proof, so dropping one under a lock, for instance by
/// overwriting a locked `Option<PendingIrp>`, is not caught at compile time; the simulator
/// reports it as SpinLockSafe. docs/soundness.md explains why this gap remains.)
///
/// ```
/// use wdm::{Irp, Outcome, PendingIrp, SpinLock, Status, Unlocked};
///
/// struct Parked {
///     slot: SpinLock<Option<PendingIrp>>,
/// }
///
/// impl Parked {
///     fn park<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///         let (pending, pended) = irp.mark_pending();
///         let old = self.slot.with(cx, |s| s.replace(pending)); // released on return
///         if let Some(old) = old {
///             old.complete(Status::CANCELLED, cx); // outside the lock (SDV SpinLockSafe)
///         }
///         pended.into()
///     }
/// }
/// ```
#[must_use = "a pending IRP must be completed (dropping it completes it as cancelled)"]
pub struct PendingIrp {
    raw: NonNull<IRP>,
}

// SAFETY: a pending IRP is completed from whichever thread finishes the work (DPC, worker);
// ownership keeps access exclusive.
unsafe impl Send for PendingIrp {}

impl PendingIrp {
    /// Completes the IRP. `cx` proves no spin lock is held (SDV SpinLockSafe).
    ///
    /// ```
    /// use wdm::{IrpQueue, Status, Unlocked};
    ///
    /// fn answer_one(queue: &IrpQueue, cx: &Unlocked) {
    ///     if let Some(irp) = queue.remove_next(cx) {
    ///         irp.complete(Status::SUCCESS, cx);
    ///     }
    /// }
    /// ```
    pub fn complete(self, status: impl CompletionStatus, cx: &Unlocked) {
        self.complete_with(status, 0, cx);
    }

    /// Completes the IRP with `information`.
    ///
    /// ```
    /// use wdm::{PendingIrp, Status, Unlocked};
    ///
    /// fn finish_write(write: PendingIrp, written: usize, cx: &Unlocked) {
    ///     write.complete_with(Status::SUCCESS, written, cx);
    /// }
    /// ```
    pub fn complete_with(self, status: impl CompletionStatus, information: usize, _cx: &Unlocked) {
        self.complete_unchecked(status.status(), information);
    }

    /// Completes the IRP from framework code that holds no spin lock.
    pub(crate) fn complete_unchecked(self, status: Status, information: usize) {
        let raw = self.into_raw();
        complete_pended(raw, status, information);
    }

    /// Whether the IRP has been cancelled (`Irp->Cancel`).
    ///
    /// ```
    /// use wdm::{PendingIrp, Status, Unlocked};
    ///
    /// fn step(irp: PendingIrp, cx: &Unlocked) -> Option<PendingIrp> {
    ///     if irp.is_cancelled() {
    ///         irp.complete(Status::CANCELLED, cx); // stop long work early
    ///         return None;
    ///     }
    ///     Some(irp)
    /// }
    /// ```
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        cancel_requested(self.raw)
    }

    /// # Safety
    /// `raw` must be a live IRP marked pending, owned by the caller.
    pub(crate) unsafe fn from_raw(raw: NonNull<IRP>) -> Self {
        Self { raw }
    }

    /// The raw IRP, still owned by `self`.
    pub(crate) fn raw(&self) -> NonNull<IRP> {
        self.raw
    }

    /// Gives up ownership without completing (the caller takes over the raw IRP).
    pub(crate) fn into_raw(self) -> NonNull<IRP> {
        let raw = self.raw;
        core::mem::forget(self);
        raw
    }
}

/// A pending IRP nobody completed: completed as cancelled, never lost — at once below
/// DISPATCH_LEVEL, by its device's DPC at DISPATCH_LEVEL, where a spin lock may be held
/// (src/dropped.rs).
impl Drop for PendingIrp {
    fn drop(&mut self) {
        crate::print::print(format_args!(
            "wdm: a pending IRP was dropped without being completed: completed with STATUS_CANCELLED\n"
        ));
        complete_cancelled_anywhere(self.raw);
    }
}

/// Completes an owned IRP as cancelled from anywhere: at once below DISPATCH_LEVEL (no spin lock
/// can be held there), by its device's DPC otherwise.
pub(crate) fn complete_cancelled_anywhere(irp: NonNull<IRP>) {
    if crate::dropped::at_dispatch_level() {
        let device = device_of(irp).cast_mut();
        // SAFETY: the caller owns the IRP, sent to `device` (a framework device: every owned
        // IRP was dispatched to one), and gives it up.
        unsafe { crate::dropped::defer(device, irp, crate::dropped::Kind::Complete) };
    } else {
        complete_pended(irp, Status::CANCELLED, 0);
    }
}

/// Completes an owned IRP that was pended (or handed to a queue, StartIo, a cancel routine):
/// for a PnP device, the remove lock its dispatch took is released after the completion
/// (src/pnp/device.rs). An IRP completed by its dispatch routine is released by the dispatch
/// routine instead, so this costs nothing on that path.
fn complete_pended(irp: NonNull<IRP>, status: Status, information: usize) {
    crate::pnp::release_for_completion(irp, |irp| complete_raw(irp, status, information));
}

/// Writes `IoStatus.Status` of an IRP the caller owns (by raw place: see [`complete_raw`]).
///
/// # Safety
/// The caller owns the live IRP.
pub(crate) unsafe fn set_status(irp: *mut IRP, status: wdm_sys::NTSTATUS) {
    // SAFETY: the caller's contract; only the field's address is computed.
    let field = unsafe { &raw mut (*irp).IoStatus.__bindgen_anon_1.Status };
    // SAFETY: as above.
    unsafe { field.write(status) };
}

/// Reads `IoStatus.Status` of an IRP the caller owns.
///
/// # Safety
/// The caller owns the live IRP.
pub(crate) unsafe fn status_of(irp: *mut IRP) -> wdm_sys::NTSTATUS {
    // SAFETY: the caller's contract; only the field's address is computed.
    let field = unsafe { &raw const (*irp).IoStatus.__bindgen_anon_1.Status };
    // SAFETY: as above.
    unsafe { field.read() }
}

/// The device of the current stack location of an IRP the caller owns (raw pointer form).
pub(crate) fn device_of_raw(irp: *mut IRP) -> *mut wdm_sys::DEVICE_OBJECT {
    // SAFETY: an owned, live IRP (the caller's, passed as a raw pointer).
    let location = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: as above: its current location is valid while it is owned.
    unsafe { (*location).DeviceObject }
}

/// Completes an owned IRP with `status`.
///
/// # Safety
/// The caller owns the live IRP and gives it up.
pub(crate) unsafe fn complete_owned(irp: NonNull<IRP>, status: Status) {
    complete_pended(irp, status, 0);
}

/// `Tail.Overlay.ListEntry` of an IRP: its owner's to link it into a list while it owns it.
pub(crate) fn list_entry(irp: *mut IRP) -> wdm_sys::PLIST_ENTRY {
    // SAFETY: only computes a field's address in a live IRP.
    unsafe { &raw mut (*irp).Tail.Overlay.__bindgen_anon_2.ListEntry }
}

/// The IRP whose `Tail.Overlay.ListEntry` is `entry` (the inverse of [`list_entry`]).
pub(crate) fn irp_of_list_entry(entry: wdm_sys::PLIST_ENTRY) -> *mut IRP {
    let probe = core::mem::MaybeUninit::<IRP>::uninit();
    let base = probe.as_ptr();
    // SAFETY: only computes a field's address inside the (uninitialized) local.
    let field = unsafe { &raw const (*base).Tail.Overlay.__bindgen_anon_2.ListEntry };
    let offset = field as usize - base as usize;
    entry.cast::<u8>().wrapping_sub(offset).cast()
}

/// `Tail.Overlay.DriverContext` of an IRP (four pointers): its owner's while it owns it.
pub(crate) fn driver_context(irp: *mut IRP) -> *mut wdm_sys::PVOID {
    // SAFETY: only computes a field's address in a live IRP.
    unsafe { (&raw mut (*irp).Tail.Overlay.__bindgen_anon_1.__bindgen_anon_1.DriverContext).cast() }
}

/// The device an owned IRP's current stack location was sent to.
pub(crate) fn device_of(irp: NonNull<IRP>) -> *const wdm_sys::DEVICE_OBJECT {
    location(irp).DeviceObject
}

/// The major function code of an owned IRP.
pub(crate) fn major_of(irp: NonNull<IRP>) -> u8 {
    location(irp).MajorFunction
}
