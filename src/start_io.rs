//! StartIo: the I/O manager's device queue, with the hand-off protocol done by the framework.
//!
//! A device gets StartIo in three typed steps, so the SDV rule StartIoCancel holds by
//! construction: StartIo may be declared cancelable (NonCancelable = FALSE) only once a Cancel
//! routine is registered for the device's IRPs.
//!
//! ```text
//! Device<Plain>
//!   .start_io(driver)                      -> Device<StartIo<D, NoCancelRoutine, Unset>>
//!   .cancel_routine::<C>()                 -> Device<StartIo<D, WithCancelRoutine<C>, Unset>>
//!   .set_start_io_attributes(NonCancelable) -> ...<Set<NonCancelable>>   (any state)
//!   .set_start_io_attributes(Cancelable)    -> ...<Set<Cancelable>>      (with a Cancel routine only)
//! ```
//!
//! Packets start with [`Device::start_packet`] (IoStartPacket). The framework's StartIo
//! takes the packet back from cancellation under the cancel spin lock before the driver's
//! [`StartIo::start_io`] sees it, and the framework's Cancel routine leaves the packet StartIo
//! is receiving to StartIo (spec §4: with NonCancelable = FALSE the I/O manager hands the IRP
//! over still cancelable; completing it from the Cancel routine, as beep.sys does, races with
//! StartIo). StartIo always owns its packet, and sees a cancellation in
//! [`Packet::is_cancelled`]. Finishing a packet completes it and starts the next
//! (IoStartNextPacket, at DISPATCH_LEVEL, cancelable when the device has a Cancel routine).
//!
//! SDV StartIoRecursion: finishing a packet from inside StartIo calls IoStartNextPacket, which
//! calls StartIo again — recursion, unless the device defers StartIo. Every framework device
//! defers it (IoSetStartIoAttributes with DeferredStartIo = TRUE): the I/O manager then starts
//! the next packet after the running StartIo returns, so a packet may be finished anywhere,
//! inside StartIo or later from a DPC once [held](Packet::hold), and no path recurses. (An
//! earlier design let a driver choose non-deferred StartIo and forbade finishing inside it by
//! type; a held packet finished inside StartIo still recursed. Deferral costs nothing and
//! leaves no such path.)
//!
//! A packet that StartIo neither finishes nor holds, or a held packet that is dropped, is
//! finished with STATUS_CANCELLED by its drop (the IRP is completed and the device queue moves
//! on), and the framework says so in the debug output.

use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;

use wdm_sys::ntddk::{
    IoSetCancelRoutine, IoSetStartIoAttributes, IoStartNextPacket, IoStartPacket, KeRemoveEntryDeviceQueue,
};
use wdm_sys::{BOOLEAN, IRP, PDEVICE_OBJECT, PIRP};

use crate::cancel::{CancelLock, CancelLockReleased};
use crate::device::{Device, Plain};
use crate::irp::PendingIrp;
use crate::irql::DispatchLevel;
use crate::sealed::Sealed;
use crate::{CompletionStatus, Driver, DriverObject, Status, Unlocked};

impl Sealed for NonCancelable {}
impl Sealed for Cancelable {}
impl Sealed for NoCancelRoutine {}
impl<X> Sealed for WithCancelRoutine<X> {}

/// A driver's StartIo routine.
///
/// The device's type records its StartIo configuration. Registering the Cancel routine comes
/// first; only then does `set_start_io_attributes(Cancelable)` compile (SDV StartIoCancel):
///
/// ```
/// use wdm::start_io::{Cancelable, Packet, RemoveAndComplete, Running, Set, StartIoState, WithCancelRoutine};
/// use wdm::{Device, DeviceOptions, Dispatch, DispatchLevel, Driver, DriverObject, Irp, Outcome, StartIo, Status, Unlocked};
///
/// struct Serial {
///     device: Device<StartIoState<Serial, WithCancelRoutine<RemoveAndComplete>, Set<Cancelable>>>,
/// }
///
/// impl Driver for Serial {
///     const DISPATCH: Dispatch<Self> = Dispatch::new().read(Self::read);
///
///     fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
///         let device = driver
///             .create_device(&DeviceOptions::new())?
///             .start_io(driver)
///             .cancel_routine::<RemoveAndComplete>()
///             .set_start_io_attributes(Cancelable);
///         Ok(Serial { device })
///     }
/// }
///
/// impl StartIo for Serial {
///
///     fn start_io(&self, _device: Device<Running>, packet: Packet<'_>, _level: &DispatchLevel, cx: &mut Unlocked) {
///         // StartIo may finish the packet right here: it is deferred (SDV StartIoRecursion).
///         packet.finish(Status::SUCCESS, 0, cx);
///     }
/// }
///
/// impl Serial {
///     fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///         let (pending, pended) = irp.mark_pending();
///         self.device.start_packet(pending, cx);
///         pended.into()
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no StartIo routine: implement `wdm::StartIo` for it to give its devices a device queue",
    label = "this driver type does not implement `StartIo`"
)]
pub trait StartIo: Driver {
    /// Starts `packet` on the device, at DISPATCH_LEVEL, holding no spin lock (`cx`). Called
    /// for one packet at a time per device.
    fn start_io(&self, device: Device<Running>, packet: Packet<'_>, level: &DispatchLevel, cx: &mut Unlocked);
}

/// The configuration of a device whose StartIo is running (what StartIo can do with it).
///
/// ```
/// use wdm::start_io::{Packet, Running};
/// use wdm::{Device, DispatchLevel, Status, Unlocked};
///
/// // What StartIo gets: the device (in its `Running` state) and the packet.
/// fn start_io(device: Device<Running>, packet: Packet<'_>, _level: &DispatchLevel, cx: &mut Unlocked) {
///     let _ = device.as_raw();
///     packet.finish(Status::SUCCESS, 0, cx);
/// }
/// ```
pub struct Running;

/// A driver's Cancel routine for IRPs queued in the device queue.
///
/// It gets the cancel spin lock as a guard and must return the proof that it released it:
///
/// ```
/// use wdm::start_io::{CancelRoutine, CancelledIrp};
/// use wdm::{CancelLock, CancelLockReleased, Status};
///
/// struct Cancel;
///
/// impl<D> CancelRoutine<D> for Cancel {
///     fn cancel<'c>(_driver: &D, irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
///         let (removed, mut released) = irp.remove(lock); // with Irp->CancelIrql
///         if let Some(irp) = removed {
///             irp.complete(Status::CANCELLED, released.unlocked()); // after releasing the lock
///         }
///         released
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Cancel routine of driver `{D}`",
    label = "implement `CancelRoutine<{D}>` for it (or use `RemoveAndComplete`)"
)]
pub trait CancelRoutine<D>: 'static {
    /// Called when a queued IRP is cancelled, holding the cancel spin lock. The IRP is still
    /// in the device queue (the framework handles the one StartIo is about to receive); the
    /// routine takes it out with [`CancelledIrp::remove`] and must release the lock.
    fn cancel<'c>(driver: &D, irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c>;
}

/// StartIo configuration: the driver `D`, its Cancel routine state `C`, attributes `A`.
///
/// ```
/// use wdm::start_io::{Cancelable, RemoveAndComplete, Set, StartIoState, WithCancelRoutine};
/// use wdm::{Device, DriverObject, StartIo};
///
/// // The whole configuration, for any StartIo driver `D` (see [`StartIo`] for a complete driver).
/// fn configure<D: StartIo>(
///     device: Device,
///     driver: &mut DriverObject<D>,
/// ) -> Device<StartIoState<D, WithCancelRoutine<RemoveAndComplete>, Set<Cancelable>>> {
///     device
///         .start_io(driver)
///         .cancel_routine::<RemoveAndComplete>() // first the Cancel routine...
///         .set_start_io_attributes(Cancelable) // ...then NonCancelable = FALSE compiles
/// }
/// ```
pub struct StartIoState<D, C, A>(PhantomData<(D, C, A)>);

/// No Cancel routine registered.
///
/// ```
/// use wdm::start_io::{NoCancelRoutine, NonCancelable, Set, StartIoState};
/// use wdm::{Device, DriverObject, StartIo};
///
/// // Without a Cancel routine only NonCancelable = TRUE compiles.
/// fn configure<D: StartIo>(
///     device: Device,
///     driver: &mut DriverObject<D>,
/// ) -> Device<StartIoState<D, NoCancelRoutine, Set<NonCancelable>>> {
///     device.start_io(driver).set_start_io_attributes(NonCancelable)
/// }
/// ```
pub struct NoCancelRoutine;
/// Cancel routine `C` registered.
///
/// ```
/// use wdm::start_io::{Cancelable, RemoveAndComplete, Set, StartIoState, WithCancelRoutine};
/// use wdm::{Device, DriverObject, StartIo};
///
/// // The whole configuration, for any StartIo driver `D` (see [`StartIo`] for a complete driver).
/// fn configure<D: StartIo>(
///     device: Device,
///     driver: &mut DriverObject<D>,
/// ) -> Device<StartIoState<D, WithCancelRoutine<RemoveAndComplete>, Set<Cancelable>>> {
///     device
///         .start_io(driver)
///         .cancel_routine::<RemoveAndComplete>() // first the Cancel routine...
///         .set_start_io_attributes(Cancelable) // ...then NonCancelable = FALSE compiles
/// }
/// ```
pub struct WithCancelRoutine<C>(PhantomData<C>);
/// IoSetStartIoAttributes not called yet.
///
/// ```
/// use wdm::start_io::{NoCancelRoutine, StartIoState, Unset};
/// use wdm::{Device, StartIo};
///
/// // Between `.start_io(driver)` and `.set_start_io_attributes(..)`: packets cannot start yet
/// // (`start_packet` exists only once the attributes are `Set`).
/// fn not_yet<D: StartIo>(device: Device<StartIoState<D, NoCancelRoutine, Unset>>) -> *mut wdm::sys::DEVICE_OBJECT {
///     device.as_raw()
/// }
/// ```
pub struct Unset;
/// IoSetStartIoAttributes called with cancelability `A`.
///
/// ```
/// use wdm::start_io::{Cancelable, RemoveAndComplete, Set, StartIoState, WithCancelRoutine};
/// use wdm::{Device, DriverObject, StartIo};
///
/// // The whole configuration, for any StartIo driver `D` (see [`StartIo`] for a complete driver).
/// fn configure<D: StartIo>(
///     device: Device,
///     driver: &mut DriverObject<D>,
/// ) -> Device<StartIoState<D, WithCancelRoutine<RemoveAndComplete>, Set<Cancelable>>> {
///     device
///         .start_io(driver)
///         .cancel_routine::<RemoveAndComplete>() // first the Cancel routine...
///         .set_start_io_attributes(Cancelable) // ...then NonCancelable = FALSE compiles
/// }
/// ```
pub struct Set<A>(PhantomData<A>);

/// NonCancelable = TRUE: the I/O manager clears the Cancel routine when it hands a packet to
/// StartIo. Allowed in every state.
///
/// ```
/// use wdm::start_io::{NoCancelRoutine, NonCancelable, Set, StartIoState};
/// use wdm::{Device, DriverObject, StartIo};
///
/// // Without a Cancel routine only NonCancelable = TRUE compiles.
/// fn configure<D: StartIo>(
///     device: Device,
///     driver: &mut DriverObject<D>,
/// ) -> Device<StartIoState<D, NoCancelRoutine, Set<NonCancelable>>> {
///     device.start_io(driver).set_start_io_attributes(NonCancelable)
/// }
/// ```
pub struct NonCancelable;
/// NonCancelable = FALSE: a packet stays cancelable until StartIo takes it. Allowed only with a
/// Cancel routine (SDV StartIoCancel).
///
/// ```
/// use wdm::start_io::{Cancelable, RemoveAndComplete, Set, StartIoState, WithCancelRoutine};
/// use wdm::{Device, DriverObject, StartIo};
///
/// // The whole configuration, for any StartIo driver `D` (see [`StartIo`] for a complete driver).
/// fn configure<D: StartIo>(
///     device: Device,
///     driver: &mut DriverObject<D>,
/// ) -> Device<StartIoState<D, WithCancelRoutine<RemoveAndComplete>, Set<Cancelable>>> {
///     device
///         .start_io(driver)
///         .cancel_routine::<RemoveAndComplete>() // first the Cancel routine...
///         .set_start_io_attributes(Cancelable) // ...then NonCancelable = FALSE compiles
/// }
/// ```
pub struct Cancelable;

/// Whether a cancelability may be declared in Cancel-routine state `C`. Sealed: an
/// implementation is the StartIoCancel claim itself.
#[diagnostic::on_unimplemented(
    message = "StartIo cannot be declared cancelable (NonCancelable = FALSE) before a Cancel routine is registered (SDV rule StartIoCancel)",
    label = "this device has no Cancel routine",
    note = "register one first: `.cancel_routine::<MyCancel>()`, or pass `NonCancelable`"
)]
/// ```
/// use wdm::start_io::{Cancelability, Cancelable, NoCancelRoutine, NonCancelable, RemoveAndComplete, WithCancelRoutine};
///
/// fn allowed<A: Cancelability<C>, C>() {}
///
/// allowed::<NonCancelable, NoCancelRoutine>();
/// allowed::<NonCancelable, WithCancelRoutine<RemoveAndComplete>>();
/// allowed::<Cancelable, WithCancelRoutine<RemoveAndComplete>>();
/// // allowed::<Cancelable, NoCancelRoutine>(); // does not compile: SDV StartIoCancel
/// ```
pub trait Cancelability<C>: Sealed + 'static {
    /// IoSetStartIoAttributes' NonCancelable.
    const NON_CANCELABLE: bool;
}
impl<C> Cancelability<C> for NonCancelable {
    const NON_CANCELABLE: bool = true;
}
impl<X> Cancelability<WithCancelRoutine<X>> for Cancelable {
    const NON_CANCELABLE: bool = false;
}

/// The Cancel routine a configuration passes to IoStartPacket. Sealed: the routine it names is
/// what makes a cancelable StartIo safe.
///
/// ```
/// use wdm::start_io::{CancelState, Set, StartIoState};
/// use wdm::{Device, Irp, Outcome, StartIo, Unlocked};
///
/// fn write<'irp, D: StartIo, C: CancelState<D>, A: 'static>(
///     device: &Device<StartIoState<D, C, Set<A>>>,
///     irp: Irp<'irp>,
///     cx: &mut Unlocked,
/// ) -> Outcome<'irp> {
///     let (pending, pended) = irp.mark_pending();
///     device.start_packet(pending, cx); // StartIo gets it now, or when the device is free
///     pended.into()
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Cancel-routine state of a StartIo device",
    label = "use `NoCancelRoutine` or `WithCancelRoutine<C>` with `C: CancelRoutine<{D}>`"
)]
pub trait CancelState<D>: Sealed + 'static {
    /// The routine, if any.
    const ROUTINE: wdm_sys::PDRIVER_CANCEL;
}
impl<D> CancelState<D> for NoCancelRoutine {
    const ROUTINE: wdm_sys::PDRIVER_CANCEL = None;
}
impl<D: StartIo, X: CancelRoutine<D>> CancelState<D> for WithCancelRoutine<X> {
    const ROUTINE: wdm_sys::PDRIVER_CANCEL = Some(cancel_trampoline::<D, X>);
}

impl Device<Plain> {
    /// Gives the device a StartIo routine: the driver's [`StartIo`] implementation.
    ///
    /// ```
    /// use wdm::start_io::{NoCancelRoutine, NonCancelable, Set, StartIoState};
    /// use wdm::{Device, DriverObject, StartIo};
    ///
    /// // Without a Cancel routine only NonCancelable = TRUE compiles.
    /// fn configure<D: StartIo>(
    ///     device: Device,
    ///     driver: &mut DriverObject<D>,
    /// ) -> Device<StartIoState<D, NoCancelRoutine, Set<NonCancelable>>> {
    ///     device.start_io(driver).set_start_io_attributes(NonCancelable)
    /// }
    /// ```
    pub fn start_io<D: StartIo>(self, driver: &mut DriverObject<D>) -> Device<StartIoState<D, NoCancelRoutine, Unset>> {
        // SAFETY: during init the driver object is ours alone.
        unsafe { (*driver.as_raw()).DriverStartIo = Some(start_io_trampoline::<D>) };
        self.with_state()
    }
}

/// The configuration steps as bounds rather than as methods that exist only in some states, so
/// that a step out of order fails with a message naming the rule instead of "no method named
/// ...". Sealed: an implementation would skip a step.
///
/// ```
/// use wdm::start_io::{CancelRoutineNotYetSet, NoCancelRoutine, StartIoState, Unset};
///
/// fn may_register<S: CancelRoutineNotYetSet>() {}
/// may_register::<StartIoState<(), NoCancelRoutine, Unset>>(); // right after `.start_io(driver)`
/// ```
#[diagnostic::on_unimplemented(
    message = "the Cancel routine must be registered before `set_start_io_attributes`, and only once (SDV StartIoCancel)",
    label = "this device's StartIo configuration is past that step",
    note = "configure in order: `.start_io(driver).cancel_routine::<C>().set_start_io_attributes(..)`"
)]
pub trait CancelRoutineNotYetSet: Sealed {}
impl CancelRoutineNotYetSet for StartIoState<(), NoCancelRoutine, Unset> {}

/// IoSetStartIoAttributes not called yet (a bound of `set_start_io_attributes`). Sealed.
///
/// ```
/// use wdm::start_io::{AttributesNotYetSet, Unset};
///
/// fn may_set<S: AttributesNotYetSet>() {}
/// may_set::<Unset>();
/// ```
#[diagnostic::on_unimplemented(
    message = "StartIo attributes are set once (IoSetStartIoAttributes)",
    label = "`set_start_io_attributes` was already called for this device"
)]
pub trait AttributesNotYetSet: Sealed {}
impl AttributesNotYetSet for Unset {}

/// IoSetStartIoAttributes called (a bound of `start_packet`). Sealed.
///
/// ```
/// use wdm::start_io::{AttributesSet, NonCancelable, Set};
///
/// fn may_start<S: AttributesSet>() {}
/// may_start::<Set<NonCancelable>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "packets cannot start before the StartIo attributes are set (SDV StartIoCancel)",
    label = "call `.set_start_io_attributes(NonCancelable)` or `(Cancelable)` first"
)]
pub trait AttributesSet: Sealed {}
impl<A> AttributesSet for Set<A> {}

impl Sealed for StartIoState<(), NoCancelRoutine, Unset> {}
impl Sealed for Unset {}
impl<A> Sealed for Set<A> {}

impl<D: StartIo, C, A> Device<StartIoState<D, C, A>> {
    /// Registers `C` as the Cancel routine of every packet this device starts.
    ///
    /// ```
    /// use wdm::start_io::{Cancelable, RemoveAndComplete, Set, StartIoState, WithCancelRoutine};
    /// use wdm::{Device, DriverObject, StartIo};
    ///
    /// // The whole configuration, for any StartIo driver `D` (see [`StartIo`] for a complete driver).
    /// fn configure<D: StartIo>(
    ///     device: Device,
    ///     driver: &mut DriverObject<D>,
    /// ) -> Device<StartIoState<D, WithCancelRoutine<RemoveAndComplete>, Set<Cancelable>>> {
    ///     device
    ///         .start_io(driver)
    ///         .cancel_routine::<RemoveAndComplete>() // first the Cancel routine...
    ///         .set_start_io_attributes(Cancelable) // ...then NonCancelable = FALSE compiles
    /// }
    /// ```
    pub fn cancel_routine<X: CancelRoutine<D>>(self) -> Device<StartIoState<D, WithCancelRoutine<X>, Unset>>
    where
        StartIoState<(), C, A>: CancelRoutineNotYetSet,
    {
        // SAFETY: the header is initialized. Nothing reads `cancelable` concurrently: only the
        // StartIo trampoline does, for packets, and none can start before the attributes are
        // set (`start_packet` needs them), while this unconfigured typestate, not `Copy`, is
        // the device's only configuration handle.
        unsafe { (*self.header()).cancelable = true };
        self.with_state()
    }
}

impl<D: StartIo, C: CancelState<D>, S> Device<StartIoState<D, C, S>> {
    /// IoSetStartIoAttributes: StartIo deferred (always: SDV StartIoRecursion), cancelability
    /// `attr`. [`Cancelable`] compiles only with a Cancel routine registered (SDV
    /// StartIoCancel).
    ///
    /// ```
    /// use wdm::start_io::{Cancelable, RemoveAndComplete, Set, StartIoState, WithCancelRoutine};
    /// use wdm::{Device, DriverObject, StartIo};
    ///
    /// // The whole configuration, for any StartIo driver `D` (see [`StartIo`] for a complete driver).
    /// fn configure<D: StartIo>(
    ///     device: Device,
    ///     driver: &mut DriverObject<D>,
    /// ) -> Device<StartIoState<D, WithCancelRoutine<RemoveAndComplete>, Set<Cancelable>>> {
    ///     device
    ///         .start_io(driver)
    ///         .cancel_routine::<RemoveAndComplete>() // first the Cancel routine...
    ///         .set_start_io_attributes(Cancelable) // ...then NonCancelable = FALSE compiles
    /// }
    /// ```
    pub fn set_start_io_attributes<A: Cancelability<C>>(self, _attr: A) -> Device<StartIoState<D, C, Set<A>>>
    where
        S: AttributesNotYetSet,
    {
        // SAFETY: a live device of this driver; any IRQL.
        unsafe {
            IoSetStartIoAttributes(
                self.as_raw(),
                BOOLEAN::from(true), // DeferredStartIo: finishing never recurses
                BOOLEAN::from(A::NON_CANCELABLE),
            );
        }
        self.with_state()
    }
}

impl<D: StartIo, C: CancelState<D>, S> Device<StartIoState<D, C, S>> {
    /// Queues a pended IRP for StartIo (IoStartPacket): StartIo gets it now if the device is
    /// idle, later otherwise. StartIo may run, and complete packets, before this returns: hence
    /// `cx`, the proof that no spin lock is held. Only an IRP sent to this device can be its
    /// packet (the Cancel routine IoCancelIrp calls is handed the IRP's own device); any other
    /// is completed with STATUS_INVALID_DEVICE_REQUEST.
    ///
    /// ```
    /// use wdm::start_io::{CancelState, Set, StartIoState};
    /// use wdm::{Device, Irp, Outcome, StartIo, Unlocked};
    ///
    /// fn write<'irp, D: StartIo, C: CancelState<D>, A: 'static>(
    ///     device: &Device<StartIoState<D, C, Set<A>>>,
    ///     irp: Irp<'irp>,
    ///     cx: &mut Unlocked,
    /// ) -> Outcome<'irp> {
    ///     let (pending, pended) = irp.mark_pending();
    ///     device.start_packet(pending, cx); // StartIo gets it now, or when the device is free
    ///     pended.into()
    /// }
    /// ```
    pub fn start_packet(&self, irp: PendingIrp, cx: &Unlocked)
    where
        S: AttributesSet,
    {
        // IoCancelIrp hands a Cancel routine the IRP's current device, and the framework's
        // finds the device queue through it: a packet must be an IRP sent to this device.
        if !core::ptr::eq(crate::irp::device_of(irp.raw()), self.as_raw()) {
            irp.complete(Status::INVALID_DEVICE_REQUEST, cx);
            return;
        }
        let raw = irp.into_raw();
        // SAFETY: a live device with StartIo and an IRP marked pending, handed to the I/O
        // manager's queue.
        unsafe { IoStartPacket(self.as_raw(), raw.as_ptr(), core::ptr::null_mut(), C::ROUTINE) };
    }
}

/// A packet StartIo received. Its Cancel routine has been taken back: it is no longer
/// cancelable through IoCancelIrp (check [`is_cancelled`](Packet::is_cancelled) to stop long
/// work early).
///
/// ```
/// use wdm::start_io::Packet;
/// use wdm::{Status, Unlocked};
///
/// // StartIo may finish its packet at once.
/// fn start_io(packet: Packet<'_>, cx: &Unlocked) {
///     let n = packet.transfer_length().unwrap_or(0);
///     packet.finish(Status::SUCCESS, n, cx); // the next StartIo runs after this one returns
/// }
/// ```
#[must_use = "a StartIo packet is finished, or held to be finished later (dropping it finishes it as cancelled)"]
pub struct Packet<'s> {
    irp: NonNull<IRP>,
    device: PDEVICE_OBJECT,
    cancelable: bool,
    _scope: PhantomData<&'s ()>,
}

/// A packet held past StartIo (for a DPC or timer to finish). It is `Send`.
///
/// ```
/// use wdm::start_io::{HeldPacket, Packet};
/// use wdm::{DispatchLevel, SpinLock, Status, Unlocked};
///
/// // StartIo holds the packet for the hardware...
/// fn start_io(packet: Packet<'_>, in_progress: &SpinLock<Option<HeldPacket>>, cx: &mut Unlocked) {
///     drop(in_progress.with(cx, |slot| slot.replace(packet.hold())));
/// }
///
/// // ...and its "done" DPC finishes it, which starts the next.
/// fn done(in_progress: &SpinLock<Option<HeldPacket>>, level: &DispatchLevel, cx: &mut Unlocked) {
///     let packet = in_progress.with(cx, Option::take);
///     if let Some(packet) = packet {
///         packet.finish(Status::SUCCESS, 0, level, cx);
///     }
/// }
/// ```
#[must_use = "a held packet is finished later (dropping it finishes it as cancelled)"]
pub struct HeldPacket {
    irp: NonNull<IRP>,
    device: PDEVICE_OBJECT,
    cancelable: bool,
}

// SAFETY: the packet is owned; it is finished on whichever processor runs the DPC.
unsafe impl Send for HeldPacket {}

impl Packet<'_> {
    /// Whether IoCancelIrp was called for the IRP (Irp->Cancel).
    ///
    /// ```
    /// use wdm::start_io::Packet;
    /// use wdm::{Status, Unlocked};
    ///
    /// fn start(packet: Packet<'_>, cx: &Unlocked) {
    ///     let status = if packet.is_cancelled() { Status::CANCELLED } else { Status::SUCCESS };
    ///     packet.finish(status, 0, cx);
    /// }
    /// ```
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        crate::irp::cancel_requested(self.irp)
    }

    /// The major function code (`IRP_MJ_READ`, `IRP_MJ_WRITE`, ...).
    ///
    /// ```
    /// use wdm::start_io::Packet;
    /// use wdm::{Status, Unlocked};
    ///
    /// fn start(packet: Packet<'_>, cx: &Unlocked) {
    ///     let is_read = u32::from(packet.major_function()) == wdm::sys::IRP_MJ_READ;
    ///     packet.finish(if is_read { Status::SUCCESS } else { Status::NOT_SUPPORTED }, 0, cx);
    /// }
    /// ```
    #[must_use]
    pub fn major_function(&self) -> u8 {
        crate::irp::major_of(self.irp)
    }

    /// As [`Irp::transfer_length`](crate::Irp::transfer_length).
    ///
    /// ```
    /// use wdm::start_io::Packet;
    /// use wdm::{Status, Unlocked};
    ///
    /// fn start(packet: Packet<'_>, cx: &Unlocked) {
    ///     let n = packet.transfer_length().unwrap_or(0);
    ///     packet.finish(Status::SUCCESS, n, cx);
    /// }
    /// ```
    #[must_use]
    pub fn transfer_length(&self) -> Option<usize> {
        crate::request::transfer_length_of(self.irp)
    }

    /// As [`Irp::data`](crate::Irp::data): a write's data (or a read's buffer), read-only.
    ///
    /// ```
    /// use wdm::start_io::Packet;
    /// use wdm::{Status, Unlocked};
    ///
    /// fn start(packet: Packet<'_>, cx: &Unlocked) {
    ///     match packet.data() {
    ///         Ok(data) => {
    ///             let n = data.len(); // consumed
    ///             packet.finish(Status::SUCCESS, n, cx);
    ///         }
    ///         Err(status) => packet.finish(status, 0, cx),
    ///     }
    /// }
    /// ```
    pub fn data(&self) -> Result<&[u8], Status> {
        crate::request::data_of(self.irp)
    }

    /// As [`Irp::data_mut`](crate::Irp::data_mut): a read's buffer, to fill
    /// (STATUS_INVALID_DEVICE_REQUEST for a write).
    ///
    /// ```
    /// use wdm::start_io::Packet;
    /// use wdm::{Status, Unlocked};
    ///
    /// fn start(mut packet: Packet<'_>, cx: &Unlocked) {
    ///     match packet.data_mut() {
    ///         Ok(buffer) => {
    ///             buffer.fill(0);
    ///             let n = buffer.len();
    ///             packet.finish(Status::SUCCESS, n, cx);
    ///         }
    ///         Err(status) => packet.finish(status, 0, cx),
    ///     }
    /// }
    /// ```
    pub fn data_mut(&mut self) -> Result<&mut [u8], Status> {
        crate::request::data_mut_of(self.irp)
    }

    /// Keeps the packet in progress past StartIo, to finish it later.
    ///
    /// ```
    /// use wdm::start_io::{HeldPacket, Packet};
    ///
    /// // The packet is held for the "hardware" and finished later, from its DPC.
    /// fn start_io(packet: Packet<'_>) -> HeldPacket {
    ///     packet.hold()
    /// }
    /// ```
    pub fn hold(self) -> HeldPacket {
        let this = ManuallyDrop::new(self); // handed on, not finished
        HeldPacket {
            irp: this.irp,
            device: this.device,
            cancelable: this.cancelable,
        }
    }
}

impl Packet<'_> {
    /// Completes the packet and starts the next one. Inside a deferred StartIo the next
    /// StartIo runs after this one returns.
    ///
    /// ```
    /// use wdm::start_io::Packet;
    /// use wdm::{Status, Unlocked};
    ///
    /// // StartIo may finish its packet at once.
    /// fn start_io(packet: Packet<'_>, cx: &Unlocked) {
    ///     let n = packet.transfer_length().unwrap_or(0);
    ///     packet.finish(Status::SUCCESS, n, cx); // the next StartIo runs after this one returns
    /// }
    /// ```
    pub fn finish(self, status: impl CompletionStatus, information: usize, cx: &Unlocked) {
        // SAFETY: StartIo runs at DISPATCH_LEVEL, for the whole call this packet lives in.
        let level = unsafe { DispatchLevel::assume() };
        self.hold().finish(status, information, level, cx);
    }
}

impl HeldPacket {
    /// Whether IoCancelIrp was called for the IRP (Irp->Cancel).
    ///
    /// ```
    /// use wdm::start_io::HeldPacket;
    /// use wdm::{DispatchLevel, Status, Unlocked};
    ///
    /// fn hardware_done(packet: HeldPacket, level: &DispatchLevel, cx: &Unlocked) {
    ///     let status = if packet.is_cancelled() { Status::CANCELLED } else { Status::SUCCESS };
    ///     packet.finish(status, 0, level, cx);
    /// }
    /// ```
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        crate::irp::cancel_requested(self.irp)
    }

    /// The major function code (`IRP_MJ_READ`, `IRP_MJ_WRITE`, ...).
    ///
    /// ```
    /// use wdm::start_io::HeldPacket;
    /// use wdm::{DispatchLevel, Status, Unlocked};
    ///
    /// fn hardware_done(packet: HeldPacket, level: &DispatchLevel, cx: &Unlocked) {
    ///     let is_write = u32::from(packet.major_function()) == wdm::sys::IRP_MJ_WRITE;
    ///     packet.finish(if is_write { Status::SUCCESS } else { Status::NOT_SUPPORTED }, 0, level, cx);
    /// }
    /// ```
    #[must_use]
    pub fn major_function(&self) -> u8 {
        crate::irp::major_of(self.irp)
    }

    /// As [`Irp::transfer_length`](crate::Irp::transfer_length).
    ///
    /// ```
    /// use wdm::start_io::HeldPacket;
    /// use wdm::{DispatchLevel, Status, Unlocked};
    ///
    /// fn hardware_done(packet: HeldPacket, level: &DispatchLevel, cx: &Unlocked) {
    ///     let n = packet.transfer_length().unwrap_or(0);
    ///     packet.finish(Status::SUCCESS, n, level, cx);
    /// }
    /// ```
    #[must_use]
    pub fn transfer_length(&self) -> Option<usize> {
        crate::request::transfer_length_of(self.irp)
    }

    /// As [`Irp::data`](crate::Irp::data): a write's data (or a read's buffer), read-only.
    ///
    /// ```
    /// use wdm::start_io::HeldPacket;
    /// use wdm::{DispatchLevel, Status, Unlocked};
    ///
    /// fn hardware_done(packet: HeldPacket, level: &DispatchLevel, cx: &Unlocked) {
    ///     let n = packet.data().map(|d| d.len()).unwrap_or(0);
    ///     packet.finish(Status::SUCCESS, n, level, cx);
    /// }
    /// ```
    pub fn data(&self) -> Result<&[u8], Status> {
        crate::request::data_of(self.irp)
    }

    /// As [`Irp::data_mut`](crate::Irp::data_mut): a read's buffer, to fill
    /// (STATUS_INVALID_DEVICE_REQUEST for a write).
    ///
    /// ```
    /// use wdm::start_io::HeldPacket;
    /// use wdm::{DispatchLevel, Status, Unlocked};
    ///
    /// // A read the device has answered: copy its answer in.
    /// fn hardware_done(mut packet: HeldPacket, level: &DispatchLevel, cx: &Unlocked) {
    ///     match packet.data_mut() {
    ///         Ok(buffer) => {
    ///             buffer.fill(0x55);
    ///             let n = buffer.len();
    ///             packet.finish(Status::SUCCESS, n, level, cx);
    ///         }
    ///         Err(status) => packet.finish(status, 0, level, cx),
    ///     }
    /// }
    /// ```
    pub fn data_mut(&mut self) -> Result<&mut [u8], Status> {
        crate::request::data_mut_of(self.irp)
    }

    /// Completes the packet and starts the next (IoStartNextPacket needs DISPATCH_LEVEL, SDV
    /// IrqlDispatch, and no spin lock held, SDV SpinLockSafe).
    ///
    /// ```
    /// use wdm::start_io::HeldPacket;
    /// use wdm::{DispatchLevel, SpinLock, Status, Unlocked};
    ///
    /// // The hardware's "done" DPC.
    /// fn done(in_progress: &SpinLock<Option<HeldPacket>>, level: &DispatchLevel, cx: &mut Unlocked) {
    ///     let packet = in_progress.with(cx, Option::take); // released before finishing
    ///     if let Some(packet) = packet {
    ///         packet.finish(Status::SUCCESS, 0, level, cx);
    ///     }
    /// }
    /// ```
    pub fn finish(self, status: impl CompletionStatus, information: usize, level: &DispatchLevel, cx: &Unlocked) {
        let this = ManuallyDrop::new(self); // finished here, not by the drop
        finish_raw(
            this.irp,
            this.device,
            this.cancelable,
            status.status(),
            information,
            level,
        );
        let _ = cx; // no spin lock held: completing is allowed
    }
}

/// Starts the next packet (IoStartNextPacket) and completes this one.
pub(crate) fn finish_raw(
    irp: NonNull<IRP>,
    device: PDEVICE_OBJECT,
    cancelable: bool,
    status: Status,
    information: usize,
    _level: &DispatchLevel,
) {
    // SAFETY: the device is live while it has packets, and the caller is at DISPATCH_LEVEL
    // (the token proves it). Cancelable start-next when packets carry a Cancel routine. The
    // device defers StartIo, so this never runs StartIo inside a running StartIo.
    unsafe { IoStartNextPacket(device, BOOLEAN::from(cancelable)) };
    // SAFETY: the packet's IRP is ours, completed exactly once here.
    let irp = unsafe { PendingIrp::from_raw(irp) };
    irp.complete_unchecked(status, information);
}

/// A packet StartIo neither finished nor held: finished as cancelled, so that the IRP is
/// completed and the device queue moves on (otherwise every later packet would wait forever),
/// by the device's DPC (src/dropped.rs), after StartIo returns.
impl Drop for Packet<'_> {
    fn drop(&mut self) {
        crate::print::print(format_args!(
            "wdm: a StartIo packet was dropped unfinished: finished with STATUS_CANCELLED\n"
        ));
        // StartIo runs at DISPATCH_LEVEL, maybe inside a lock's closure: the device's DPC
        // finishes the packet once StartIo (and any lock) is done.
        // SAFETY: the packet's IRP is ours, sent to its StartIo device, live until unload.
        unsafe { crate::dropped::defer(self.device, self.irp, packet_kind(self.cancelable)) };
    }
}

fn packet_kind(cancelable: bool) -> crate::dropped::Kind {
    if cancelable {
        crate::dropped::Kind::FinishCancelablePacket
    } else {
        crate::dropped::Kind::FinishPacket
    }
}

/// A held packet dropped without being finished (for example with the driver state at
/// unload): finished as cancelled, so that the IRP is completed and the device queue moves on —
/// at once below DISPATCH_LEVEL, by the device's DPC at DISPATCH_LEVEL, where a lock may be
/// held (finishing there would run StartIo under it).
impl Drop for HeldPacket {
    fn drop(&mut self) {
        crate::print::print(format_args!(
            "wdm: a held StartIo packet was dropped unfinished: finished with STATUS_CANCELLED\n"
        ));
        let (irp, device, cancelable) = (self.irp, self.device, self.cancelable);
        if crate::dropped::at_dispatch_level() {
            // Maybe inside a lock's closure: finishing here would run StartIo under the lock.
            // SAFETY: the packet's IRP is ours, sent to its StartIo device, live until unload.
            unsafe { crate::dropped::defer(device, irp, packet_kind(cancelable)) };
        } else {
            crate::irql::at_dispatch(|level| finish_raw(irp, device, cancelable, Status::CANCELLED, 0, level));
        }
    }
}

/// An IRP being cancelled while in the device queue.
///
/// ```
/// use wdm::start_io::{CancelRoutine, CancelledIrp};
/// use wdm::{CancelLock, CancelLockReleased, Status};
///
/// struct CountingCancel;
///
/// impl<D> CancelRoutine<D> for CountingCancel {
///     fn cancel<'c>(_driver: &D, irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
///         let (removed, mut released) = irp.remove(lock);
///         if let Some(irp) = removed {
///             irp.complete(Status::CANCELLED, released.unlocked());
///         }
///         released
///     }
/// }
/// ```
pub struct CancelledIrp<'c> {
    irp: PIRP,
    device: PDEVICE_OBJECT,
    _brand: PhantomData<fn(&'c ()) -> &'c ()>,
}

impl<'c> CancelledIrp<'c> {
    /// Takes the IRP out of the device queue (KeRemoveEntryDeviceQueue) under the cancel lock,
    /// then releases the lock: the removed IRP (`None` if it is not queued any more: StartIo has
    /// it) reaches the routine only once the lock is released, so neither completing it nor
    /// dropping it (which completes it as cancelled) can happen under the cancel lock.
    ///
    /// ```
    /// use wdm::start_io::CancelledIrp;
    /// use wdm::{CancelLock, CancelLockReleased, Status};
    ///
    /// fn cancel<'c>(irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
    ///     let (removed, mut released) = irp.remove(lock); // None: StartIo has it and will see Irp->Cancel
    ///     if let Some(irp) = removed {
    ///         irp.complete(Status::CANCELLED, released.unlocked());
    ///     }
    ///     released
    /// }
    /// ```
    pub fn remove(self, lock: CancelLock<'c>) -> (Option<PendingIrp>, CancelLockReleased<'c>) {
        let removed = self.remove_locked(&lock);
        (removed, lock.release())
    }

    fn remove_locked(self, _lock: &CancelLock<'_>) -> Option<PendingIrp> {
        // SAFETY: a live IRP whose queue entry lives inside it; only its address is computed.
        let entry = unsafe { &raw mut (*self.irp).Tail.Overlay.__bindgen_anon_1.DeviceQueueEntry };
        // SAFETY: a live device; only the queue's address is computed.
        let queue = unsafe { &raw mut (*self.device).DeviceQueue };
        // SAFETY: the device's queue and this IRP's entry; the cancel lock is held.
        let removed = unsafe { KeRemoveEntryDeviceQueue(queue, entry) } != 0;
        let irp = NonNull::new(self.irp).filter(|_| removed)?;
        // SAFETY: removed from the queue, the IRP belongs to the cancel routine now.
        Some(unsafe { PendingIrp::from_raw(irp) })
    }
}

wdm_sys::callback! {
    /// DriverStartIo for driver `D`.
    unsafe fn start_io_trampoline<D: StartIo>(device: PDEVICE_OBJECT, irp: PIRP) {
        // SAFETY: framework devices point to their header from creation to deletion.
        let header = unsafe { crate::device::header_of(device) };
        // SAFETY: as above; set during init.
        let cancelable = unsafe { (*header).cancelable };
        // SAFETY: StartIo is entered holding no spin lock.
        let mut cx = unsafe { Unlocked::new() };
        if cancelable {
            // Take the IRP back from cancellation under the cancel lock. If IoCancelIrp got to
            // it first (spec §4 window), our Cancel routine saw it was the current IRP and left
            // it to StartIo: either way StartIo owns it now, with Irp->Cancel telling.
            CancelLock::with_internal(|| {
                // SAFETY: a live IRP handed to StartIo; the cancel lock is held.
                let _ = unsafe { IoSetCancelRoutine(irp, None) };
            });
        }
        // SAFETY: StartIo runs at DISPATCH_LEVEL.
        let level = unsafe { DispatchLevel::assume() };
        let (Some(device_ptr), Some(irp)) = (NonNull::new(device), NonNull::new(irp)) else {
            return;
        };
        // SAFETY: a live framework device.
        if unsafe { crate::device::unloading(device) } {
            // The state is being dropped (a packet left when the simulator unloads with
            // requests in flight): finish it without the driver.
            finish_raw(irp, device, cancelable, Status::CANCELLED, 0, level);
            return;
        }
        // SAFETY: framework devices point to the driver state from init to unload.
        let state = unsafe { (*header).driver.cast::<D>() };
        // SAFETY: as above: initialized, and not being dropped (checked above), shared while
        // IRPs flow.
        let driver = unsafe { &*state };
        // SAFETY: a live framework device.
        let running = unsafe { Device::<Running>::from_raw(device_ptr) };
        let packet = Packet { irp, device, cancelable, _scope: PhantomData };
        driver.start_io(running, packet, level, &mut cx);
    }
}

wdm_sys::callback! {
    /// The Cancel routine IoStartPacket arms for driver `D` with Cancel routine `X`.
    unsafe fn cancel_trampoline<D: StartIo, X: CancelRoutine<D>>(device: PDEVICE_OBJECT, irp: PIRP) {
        // SAFETY: IoCancelIrp passes a live IRP with CancelIrql set.
        let cancel_irql = unsafe { (*irp).CancelIrql };
        // SAFETY: called with the cancel spin lock held, acquired at `cancel_irql`.
        let lock = unsafe { CancelLock::held(cancel_irql) };
        // SAFETY: a live device; CurrentIrp changes only under the cancel lock (cancelable mode).
        if unsafe { (*device).CurrentIrp } == irp {
            // Handed to StartIo, not yet taken back: StartIo owns it and sees Irp->Cancel. The
            // documentation's pattern; completing it here (beep.sys) races with StartIo.
            let _released = lock.release();
            return;
        }
        let cancelled = CancelledIrp { irp, device, _brand: PhantomData };
        // SAFETY: a live framework device.
        if unsafe { crate::device::unloading(device) } {
            // The state is being dropped: cancel without the driver.
            let _released = <RemoveAndComplete as CancelRoutine<()>>::cancel(&(), cancelled, lock);
            return;
        }
        // SAFETY: framework devices point to the driver state from init to unload.
        let header = unsafe { crate::device::header_of(device) };
        // SAFETY: as above.
        let state = unsafe { (*header).driver.cast::<D>() };
        // SAFETY: as above: initialized, not being dropped (checked above), shared while IRPs
        // flow.
        let driver = unsafe { &*state };
        let _released: CancelLockReleased<'_> = X::cancel(driver, cancelled, lock);
    }
}

/// A Cancel routine that does what the documentation's StartIo pattern does: take the IRP out
/// of the device queue and complete it as cancelled.
///
/// ```
/// use wdm::start_io::{Cancelable, RemoveAndComplete, Set, StartIoState, WithCancelRoutine};
/// use wdm::{Device, DriverObject, StartIo};
///
/// // The whole configuration, for any StartIo driver `D` (see [`StartIo`] for a complete driver).
/// fn configure<D: StartIo>(
///     device: Device,
///     driver: &mut DriverObject<D>,
/// ) -> Device<StartIoState<D, WithCancelRoutine<RemoveAndComplete>, Set<Cancelable>>> {
///     device
///         .start_io(driver)
///         .cancel_routine::<RemoveAndComplete>() // first the Cancel routine...
///         .set_start_io_attributes(Cancelable) // ...then NonCancelable = FALSE compiles
/// }
/// ```
pub struct RemoveAndComplete;

impl<D> CancelRoutine<D> for RemoveAndComplete {
    fn cancel<'c>(_driver: &D, irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
        let (removed, mut released) = irp.remove(lock);
        if let Some(irp) = removed {
            irp.complete(Status::CANCELLED, released.unlocked());
        }
        released
    }
}
