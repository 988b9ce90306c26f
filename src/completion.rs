//! Completion routines: forwarding an IRP and getting it back when the lower driver completes
//! it.
//!
//! [`Irp::forward_with`] copies the parameters down, registers the framework's completion
//! routine and passes the IRP on; when the lower driver completes it, the driver's
//! [`CompletionRoutine`] gets it as a [`LowerCompleted`] and must say what happens next, with a
//! value only the matching method makes:
//! - [`LowerCompleted::pass_up`]: completion goes on up the stack. The framework propagates the
//!   pending mark itself when `Irp->PendingReturned` is set, so a completion routine cannot
//!   forget it (Driver Verifier 0xC9/0x228).
//! - [`LowerCompleted::reclaim`]: STATUS_MORE_PROCESSING_REQUIRED; the driver owns the IRP again
//!   as a [`PendingIrp`] and completes it later (the IRP was marked pending on the way down, so
//!   the dispatch routine's STATUS_PENDING is right).

use core::marker::PhantomData;
use core::ptr::NonNull;

use wdm_sys::ntddk::{IoCallDriver, IoCopyCurrentIrpStackLocationToNext, IoMarkIrpPending, IoSetCompletionRoutine};
use wdm_sys::{
    IRP, NTSTATUS, PDEVICE_OBJECT, PIRP, PVOID, STATUS_CONTINUE_COMPLETION, STATUS_MORE_PROCESSING_REQUIRED,
};

use crate::irp::PendingIrp;
use crate::{Irp, LowerDevice, Outcome, Status, Unlocked};

type Brand<'c> = PhantomData<fn(&'c ()) -> &'c ()>;

/// A driver's completion routine for IRPs it forwarded with [`Irp::forward_with`].
///
/// ```
/// use wdm::{CompletionRoutine, Irp, LowerCompleted, LowerDevice, Next, Outcome, Status, Unlocked};
///
/// struct Filter {
///     lower: LowerDevice<Filter>,
/// }
///
/// /// Retries nothing, but fixes up one status on the way back up.
/// struct FixUp;
///
/// impl CompletionRoutine<Filter> for FixUp {
///     fn completed<'c>(_driver: &Filter, irp: LowerCompleted<'c>, cx: &mut Unlocked) -> Next<'c> {
///         if irp.status() == Status::NOT_SUPPORTED {
///             let (pending, next) = irp.reclaim(); // STATUS_MORE_PROCESSING_REQUIRED
///             pending.complete(Status::INVALID_DEVICE_REQUEST, cx);
///             next
///         } else {
///             irp.pass_up() // the pending mark is propagated by the framework
///         }
///     }
/// }
///
/// impl Filter {
///     fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///         irp.forward_with::<Filter, FixUp>(&self.lower, cx)
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a completion routine of driver `{D}`",
    label = "implement `CompletionRoutine<{D}>` for it",
    note = "the routine gets the state of the driver that attached the `LowerDevice<{D}>` the IRP is forwarded to"
)]
pub trait CompletionRoutine<D>: 'static {
    /// Called when the lower driver completed the IRP (at IRQL <= DISPATCH_LEVEL, holding no
    /// spin lock: `cx`).
    fn completed<'c>(driver: &D, irp: LowerCompleted<'c>, cx: &mut Unlocked) -> Next<'c>;
}

/// An IRP the lower driver completed, back in this driver's completion routine.
///
/// ```
/// use wdm::{CompletionRoutine, LowerCompleted, Next, Status, Unlocked};
/// struct Filter;
/// struct Routine;
///
/// impl CompletionRoutine<Filter> for Routine {
///     fn completed<'c>(_driver: &Filter, irp: LowerCompleted<'c>, _cx: &mut Unlocked) -> Next<'c> {
///         // The lower driver's result, then the decision.
///         let _ = (irp.status(), irp.information());
///         irp.pass_up()
///     }
/// }
/// ```
pub struct LowerCompleted<'c> {
    raw: NonNull<IRP>,
    _brand: Brand<'c>,
}

/// What happens after a completion routine; made only by [`LowerCompleted`]'s methods.
///
/// ```
/// use wdm::{CompletionRoutine, LowerCompleted, Next, Status, Unlocked};
/// struct Filter;
/// struct Routine;
///
/// impl CompletionRoutine<Filter> for Routine {
///     fn completed<'c>(_driver: &Filter, irp: LowerCompleted<'c>, _cx: &mut Unlocked) -> Next<'c> {
///         irp.pass_up() // a `Next` can only come from `pass_up` or `reclaim`
///     }
/// }
/// ```
#[must_use = "a completion routine returns what happens next"]
pub struct Next<'c> {
    status: NTSTATUS,
    _brand: Brand<'c>,
}

impl<'c> LowerCompleted<'c> {
    /// The status the lower driver completed the IRP with.
    ///
    /// ```
    /// use wdm::{CompletionRoutine, LowerCompleted, Next, Status, Unlocked};
    /// struct Filter;
    /// struct Routine;
    ///
    /// impl CompletionRoutine<Filter> for Routine {
    ///     fn completed<'c>(_driver: &Filter, irp: LowerCompleted<'c>, cx: &mut Unlocked) -> Next<'c> {
    ///         if irp.status() == Status::DEVICE_BUSY {
    ///             let (irp, next) = irp.reclaim();
    ///             irp.complete(Status::UNSUCCESSFUL, cx);
    ///             return next;
    ///         }
    ///         irp.pass_up()
    ///     }
    /// }
    /// ```
    pub fn status(&self) -> Status {
        // By raw place, never as `&IRP`: IoCancelIrp may be writing the IRP's cancel fields on
        // another processor.
        // SAFETY: the IRP is ours during the completion routine; only the field's address is
        // computed.
        let field = unsafe { &raw const (*self.raw.as_ptr()).IoStatus.__bindgen_anon_1.Status };
        // SAFETY: as above; `Status` is the union member drivers set.
        let raw = unsafe { field.read() };
        // A lower driver that completed with STATUS_PENDING broke CompleteRequestStatusCheck
        // (Driver Verifier stops there); what reaches us then is a failure, not a pending IRP.
        Status::new(raw).unwrap_or(Status::UNSUCCESSFUL)
    }

    /// `IoStatus.Information`.
    ///
    /// ```
    /// use wdm::{CompletionRoutine, LowerCompleted, Next, Status, Unlocked};
    /// struct Filter;
    /// struct Routine;
    ///
    /// impl CompletionRoutine<Filter> for Routine {
    ///     fn completed<'c>(_driver: &Filter, irp: LowerCompleted<'c>, _cx: &mut Unlocked) -> Next<'c> {
    ///         let transferred = irp.information();
    ///         let _ = transferred; // e.g. count bytes read through the filter
    ///         irp.pass_up()
    ///     }
    /// }
    /// ```
    pub fn information(&self) -> usize {
        // SAFETY: as in `status`: a field of the IRP that is ours, by raw place.
        unsafe { (*self.raw.as_ptr()).IoStatus.Information as usize }
    }

    /// Lets completion go on up the stack, propagating the pending mark.
    ///
    /// ```
    /// use wdm::{CompletionRoutine, LowerCompleted, Next, Status, Unlocked};
    /// struct Filter;
    /// struct Routine;
    ///
    /// impl CompletionRoutine<Filter> for Routine {
    ///     fn completed<'c>(_driver: &Filter, irp: LowerCompleted<'c>, _cx: &mut Unlocked) -> Next<'c> {
    ///         irp.pass_up() // STATUS_CONTINUE_COMPLETION, pending mark propagated
    ///     }
    /// }
    /// ```
    pub fn pass_up(self) -> Next<'c> {
        // SAFETY: the IRP is ours during the completion routine (a field by raw place, as in
        // `status`).
        let pending_returned = unsafe { (*self.raw.as_ptr()).PendingReturned } != 0;
        if pending_returned {
            // SAFETY: as above; the current location is this driver's.
            unsafe { IoMarkIrpPending(self.raw.as_ptr()) };
        }
        Next {
            status: STATUS_CONTINUE_COMPLETION,
            _brand: PhantomData,
        }
    }

    /// Stops completion (STATUS_MORE_PROCESSING_REQUIRED): the driver owns the IRP again and
    /// must complete it.
    ///
    /// ```
    /// use wdm::{CompletionRoutine, LowerCompleted, Next, Status, Unlocked};
    /// struct Filter;
    /// struct Routine;
    ///
    /// impl CompletionRoutine<Filter> for Routine {
    ///     fn completed<'c>(_driver: &Filter, irp: LowerCompleted<'c>, cx: &mut Unlocked) -> Next<'c> {
    ///         let (irp, next) = irp.reclaim(); // STATUS_MORE_PROCESSING_REQUIRED
    ///         let n = irp.data().map(|d| d.len()).unwrap_or(0);
    ///         irp.complete_with(Status::SUCCESS, n, cx); // the driver finishes it itself
    ///         next
    ///     }
    /// }
    /// ```
    pub fn reclaim(self) -> (PendingIrp, Next<'c>) {
        // SAFETY: the IRP was marked pending on the way down (forward_with), and is ours again.
        let irp = unsafe { PendingIrp::from_raw(self.raw) };
        (
            irp,
            Next {
                status: STATUS_MORE_PROCESSING_REQUIRED,
                _brand: PhantomData,
            },
        )
    }
}

impl<'irp> Irp<'irp> {
    /// Marks the IRP pending, passes it to `lower` with completion routine `C`, and returns
    /// the outcome for the dispatch routine to return (STATUS_PENDING). (Marking before
    /// passing it down is what makes both outcomes of `C` correct: passing up, or reclaiming.)
    ///
    /// As for [`forward`](Irp::forward): `cx`, because IoCallDriver runs the lower driver
    /// before it returns; and only an IRP sent to the device attached on `lower`, with a stack
    /// location for the lower driver, is passed on — any other is completed with
    /// STATUS_INVALID_DEVICE_REQUEST (copying the location to a next one that does not exist
    /// would write outside the IRP).
    ///
    /// `C` is a completion routine for the driver that attached `lower` (`LowerDevice<D>`),
    /// and gets that driver's state: naming another driver type does not compile.
    ///
    /// ```
    /// use wdm::{CompletionRoutine, Irp, LowerCompleted, LowerDevice, Next, Outcome, Unlocked};
    ///
    /// struct Filter {
    ///     lower: LowerDevice<Filter>,
    /// }
    /// struct Watch;
    ///
    /// impl CompletionRoutine<Filter> for Watch {
    ///     fn completed<'c>(_driver: &Filter, irp: LowerCompleted<'c>, _cx: &mut Unlocked) -> Next<'c> {
    ///         irp.pass_up()
    ///     }
    /// }
    ///
    /// impl Filter {
    ///     fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///         irp.forward_with::<Filter, Watch>(&self.lower, cx) // returns STATUS_PENDING
    ///     }
    /// }
    /// ```
    pub fn forward_with<D: 'static, C: CompletionRoutine<D>>(
        self,
        lower: &LowerDevice<D>,
        cx: &Unlocked,
    ) -> Outcome<'irp> {
        // The next location must exist: only an IRP sent to the device attached on `lower` is
        // sized for the lower stack, and a sender may have built one with too few locations.
        // SAFETY: an owned, live IRP; `CurrentLocation` is only changed by its owner.
        let has_next = unsafe { (*self.raw().as_ptr()).CurrentLocation } > 1;
        if !has_next || !lower.is_below(self.device_object()) {
            return self.complete(Status::INVALID_DEVICE_REQUEST, cx).into();
        }
        let (pending, pended) = self.mark_pending();
        let irp = pending.into_raw().as_ptr();
        // SAFETY: an owned IRP with a location below the current one (checked above).
        unsafe { IoCopyCurrentIrpStackLocationToNext(irp) };
        // SAFETY: as above; the routine is registered in the lower location.
        unsafe {
            IoSetCompletionRoutine(
                irp,
                Some(completion_trampoline::<D, C>),
                lower.state().cast_mut().cast(),
                true,
                true,
                true,
            )
        };
        // SAFETY: the IRP goes to the lower driver; we get it back in the completion routine.
        let _ = unsafe { IoCallDriver(lower.as_raw(), irp) };
        pended.into()
    }
}

wdm_sys::callback! {
    /// The framework's completion routine for driver `D` and its routine `C`.
    unsafe fn completion_trampoline<D: 'static, C: CompletionRoutine<D>>(device: PDEVICE_OBJECT, irp: PIRP, context: PVOID) -> NTSTATUS {
        let Some(raw) = NonNull::new(irp) else {
            return STATUS_CONTINUE_COMPLETION;
        };
        // SAFETY: the device that forwarded the IRP (a framework device: `forward_with` only
        // passes on IRPs sent to the device attached on the lower one).
        if unsafe { crate::device::unloading(device) } {
            // The state is being dropped: pass the IRP up without the driver.
            let status = LowerCompleted { raw, _brand: PhantomData }.pass_up().status;
            // SAFETY: as above; the IRP leaves this driver here.
            unsafe { crate::pnp::release(device, irp) };
            return status;
        }
        // SAFETY: the context is the state of the driver that attached the `LowerDevice<D>` the
        // IRP was forwarded to (`forward_with`): a `D`, whatever device the IRP came through,
        // initialized while IRPs flow (from the end of init to unload), not being dropped
        // (checked above).
        let driver = unsafe { &*context.cast::<D>() };
        // SAFETY: IoCompleteRequest runs completion routines holding no spin lock (completing
        // under one is the lower driver's SpinLockSafe violation).
        let mut cx = unsafe { Unlocked::new() };
        let next = C::completed(driver, LowerCompleted { raw, _brand: PhantomData }, &mut cx);
        if next.status == STATUS_CONTINUE_COMPLETION {
            // The IRP goes on up and leaves this driver: a PnP device's request releases the
            // remove lock its dispatch took (a reclaimed one keeps it until it is completed).
            // SAFETY: the device the IRP was forwarded from, kept alive by that acquisition.
            unsafe { crate::pnp::release(device, irp) };
        }
        next.status
    }
}
