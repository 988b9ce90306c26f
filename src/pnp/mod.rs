//! Plug and Play drivers: function and filter drivers whose devices come from AddDevice and
//! live through the PnP and power IRP sequences (pnp-power.md).
//!
//! A PnP driver is a type implementing [`PnpDevice`]: the state of **one** device object (a
//! function driver's FDO or a filter's DO), made by [`PnpDevice::add_device`] when the PnP
//! manager finds a device for the driver. The framework owns everything the Windows Driver
//! Model makes every driver write, and which C drivers get wrong most:
//!
//! | what | the framework does | SDV / Driver Verifier |
//! |---|---|---|
//! | AddDevice | creates the device, attaches it to the PDO's stack, copies the flags the stack must agree on (buffered/direct I/O, power-pageable; a filter also its type and characteristics), initialises the remove lock, registers the device interface, clears DO_DEVICE_INITIALIZING; undoes all of it when the hook fails | AddDevice, PnpSameDeviceObject, CheckDeviceObjectFlags, 0xC9/0x243 |
//! | remove lock | every IRP dispatched to the device holds it, from dispatch until it is completed or forwarded (or its completion routine ran); REMOVE releases and waits before detaching and deleting | the 32 RemoveLock* rules, IoReleaseRemoveLockAndWaitOutsideRemoveDevice, MultRemoveLock |
//! | IRP_MJ_PNP | the whole protocol: forward-and-wait for START, CANCEL_STOP, CANCEL_REMOVE and QUERY_CAPABILITIES; set STATUS_SUCCESS and forward for the removal and stop IRPs; pass everything else down untouched; detach and delete at REMOVE only | PnpRemove, PnpSurpriseRemove, PnpIrpCompletion, MarkStartDevice, NsRemoveLock*, 0xC9/0x22D, 0x22F, 0x213, 0x306, 0x21D, 0x21E, 0x241, 0x242 |
//! | device state | not started, started, stop pending, stopped, remove pending, surprise removed, deleted; I/O held or failed as each state requires | pnp-power.md §4 |
//! | IRP_MJ_POWER | forwards with IoCallDriver; a function driver is the power policy owner: it turns S-IRPs into D-IRPs (PoRequestPowerIrp), calls PoSetPowerState, runs the D0 hooks, holds I/O outside D0 | PowerDownFail, PowerUpFail, MarkPower*, RequestedPowerIrp |
//! | IRP_MJ_SYSTEM_CONTROL | forwarded untouched (the device registers no WMI provider) | WmiForward |
//! | device interface | registered at AddDevice, enabled after START, disabled at surprise removal and REMOVE | pnp-power.md §4 |
//!
//! The hooks a device supplies are plain methods with defaults; the ones for IRPs that must
//! not fail (STOP, SURPRISE_REMOVAL, REMOVE, the power transitions) return `()`, so a driver
//! cannot fail them. No hook can detach or delete the device, forward a PnP IRP or complete
//! one: the framework does, once, at the right point.
//!
//! ```
//! use wdm::pnp::{Guid, NewDevice, PnpDevice, PnpOptions, Role};
//! use wdm::{Dispatch, Irp, Outcome, Status, Unlocked};
//!
//! struct Lamp;
//!
//! impl PnpDevice for Lamp {
//!     const ROLE: Role = Role::Function;
//!     const OPTIONS: PnpOptions =
//!         PnpOptions::new().interface(Guid::from_u128(0x6f1b_2c3d_0000_4000_8000_0000_0000_0001));
//!     const DISPATCH: Dispatch<Self> = Dispatch::new().create(Self::open).close(Self::open);
//!
//!     fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
//!         Ok(Lamp)
//!     }
//! }
//!
//! impl Lamp {
//!     fn open<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
//!         irp.complete(Status::SUCCESS, cx).into()
//!     }
//! }
//!
//! // On the simulator: a root-enumerated device, the driver added and started.
//! let kernel = wdm_sim::Kernel::new();
//! let driver = kernel.load("lamp", wdm::pnp::entry::<Lamp>).unwrap();
//! let node = kernel.add_root_device(r"ROOT\LAMP");
//! assert_eq!(node.add_driver(&driver), 0);
//! assert_eq!(node.start(), 0);
//! kernel.open_device(&node).unwrap().close();
//! node.surprise_remove(); // SURPRISE_REMOVAL, then REMOVE: the framework detaches and deletes
//! driver.unload();
//! kernel.assert_clean();
//! ```

mod device;
mod guid;
mod minor;
mod power;
mod remove_lock;

pub use device::entry;
pub(crate) use device::{PnpHeader, release, release_for_completion};
pub use guid::Guid;
pub use power::DevicePowerState;
pub use remove_lock::RemoveLockGuard;

use core::marker::PhantomData;
use core::ptr::NonNull;

use wdm_sys::{CM_RESOURCE_LIST, DEVICE_OBJECT};

use crate::{Dispatch, IoMethod, LowerDevice, Status, Unlocked};

/// What kind of driver a [`PnpDevice`] is in its device stack.
///
/// ```
/// use wdm::pnp::Role;
///
/// // A filter passes what it does not handle down; a function driver fails it.
/// assert_ne!(Role::Function, Role::Filter);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The function driver (the FDO): it owns the device's I/O and is its power policy owner.
    /// Requests of a major function it does not handle fail with
    /// STATUS_INVALID_DEVICE_REQUEST, and I/O is held or failed as the device's PnP and power
    /// state requires.
    Function,
    /// A filter (upper or lower): requests it does not handle, and every request whatever the
    /// device's state, go down the stack untouched; the function driver below decides.
    Filter,
}

/// How the framework creates a PnP device object.
///
/// ```
/// use wdm::pnp::{Guid, PnpOptions};
/// use wdm::IoMethod;
///
/// const OPTIONS: PnpOptions = PnpOptions::new()
///     .io_method(IoMethod::Buffered)
///     .interface(Guid::from_u128(0x781e_f630_72b2_11d2_b852_00c0_4fad_5171));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct PnpOptions {
    pub(crate) device_type: u32,
    pub(crate) characteristics: u32,
    pub(crate) io_method: IoMethod,
    pub(crate) interface: Option<Guid>,
    pub(crate) power_pageable: bool,
}

impl Default for PnpOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl PnpOptions {
    /// A `FILE_DEVICE_UNKNOWN` device, `FILE_DEVICE_SECURE_OPEN`, buffered I/O, power
    /// pageable, no device interface.
    ///
    /// ```
    /// use wdm::pnp::PnpOptions;
    ///
    /// const PLAIN: PnpOptions = PnpOptions::new();
    /// ```
    pub const fn new() -> Self {
        Self {
            device_type: wdm_sys::FILE_DEVICE_UNKNOWN,
            characteristics: wdm_sys::FILE_DEVICE_SECURE_OPEN,
            io_method: IoMethod::Buffered,
            interface: None,
            power_pageable: true,
        }
    }

    /// The `FILE_DEVICE_*` type of a function driver's device. A filter takes the type of the
    /// device below it, whatever this says (a filter must look like what it filters).
    ///
    /// ```
    /// use wdm::pnp::PnpOptions;
    ///
    /// const UNKNOWN: PnpOptions = PnpOptions::new().device_type(wdm::FILE_DEVICE_UNKNOWN);
    /// ```
    pub const fn device_type(mut self, device_type: u32) -> Self {
        self.device_type = device_type;
        self
    }

    /// `FILE_DEVICE_*` characteristics (default `FILE_DEVICE_SECURE_OPEN`). A filter adds the
    /// characteristics of the device below.
    ///
    /// ```
    /// use wdm::pnp::PnpOptions;
    ///
    /// const SECURE: PnpOptions = PnpOptions::new().characteristics(wdm::sys::FILE_DEVICE_SECURE_OPEN);
    /// ```
    pub const fn characteristics(mut self, characteristics: u32) -> Self {
        self.characteristics = characteristics;
        self
    }

    /// How a function driver's reads and writes carry data. A filter always takes the
    /// buffering method of the device below (a mismatch is Driver Verifier's 0xC9/0x244).
    ///
    /// ```
    /// use wdm::pnp::PnpOptions;
    /// use wdm::IoMethod;
    ///
    /// const DIRECT: PnpOptions = PnpOptions::new().io_method(IoMethod::Direct);
    /// ```
    pub const fn io_method(mut self, method: IoMethod) -> Self {
        self.io_method = method;
        self
    }

    /// A device interface of class `guid`: registered at AddDevice, enabled once the device
    /// has started, disabled at surprise removal and REMOVE. User mode finds the device by it
    /// (SetupDiGetClassDevs with DIGCF_DEVICEINTERFACE), not by a name.
    ///
    /// ```
    /// use wdm::pnp::{Guid, PnpOptions};
    ///
    /// const WITH_INTERFACE: PnpOptions =
    ///     PnpOptions::new().interface(Guid::from_u128(0x781e_f630_72b2_11d2_b852_00c0_4fad_5171));
    /// ```
    pub const fn interface(mut self, guid: Guid) -> Self {
        self.interface = Some(guid);
        self
    }

    /// Whether the device's power IRPs may arrive at PASSIVE_LEVEL (DO_POWER_PAGABLE, the
    /// default). A device on the paging path sets `false`. A filter copies the flag of the
    /// device below, whatever this says (PAGABLE above a non-PAGABLE device is illegal).
    ///
    /// ```
    /// use wdm::pnp::PnpOptions;
    ///
    /// const PAGING_PATH: PnpOptions = PnpOptions::new().power_pageable(false);
    /// ```
    pub const fn power_pageable(mut self, pageable: bool) -> Self {
        self.power_pageable = pageable;
        self
    }
}

/// The state of one PnP device object, and its hooks.
///
/// The framework calls the hooks at PASSIVE_LEVEL from the PnP manager's thread, one at a
/// time (the PnP manager serialises PnP IRPs), each with the [`Unlocked`] proof. I/O handlers
/// ([`DISPATCH`](Self::DISPATCH)) run while the device is started, and may run concurrently
/// with each other and with the hooks, as in any WDM driver.
///
/// IRP_MJ_PNP, IRP_MJ_POWER and IRP_MJ_SYSTEM_CONTROL are the framework's: a `DISPATCH` that
/// names one of them does not compile (the error names the SDV rule the framework enforces
/// instead).
///
/// ```
/// use wdm::pnp::{NewDevice, PnpDevice, Role, Started};
/// use wdm::{Dispatch, Irp, IrpQueue, LowerDevice, Outcome, Status, Unlocked};
///
/// struct Counter {
///     lower: LowerDevice<Counter>,
///     reads: IrpQueue,
/// }
///
/// impl PnpDevice for Counter {
///     const ROLE: Role = Role::Function;
///     const DISPATCH: Dispatch<Self> = Dispatch::new().read(Self::read);
///
///     fn add_device(device: &NewDevice<'_, Self>) -> Result<Self, Status> {
///         Ok(Counter { lower: device.lower(), reads: IrpQueue::new()? })
///     }
///
///     fn start(&self, _started: &Started<'_>, _cx: &mut Unlocked) -> Result<(), Status> {
///         Ok(()) // program the hardware with the resources
///     }
///
///     fn surprise_removal(&self, cx: &mut Unlocked) {
///         self.reads.complete_all(Status::NO_SUCH_DEVICE, cx); // the hardware is gone
///     }
///
///     fn remove(&self, cx: &mut Unlocked) {
///         self.reads.complete_all(Status::DELETE_PENDING, cx); // REMOVE waits for these
///     }
/// }
///
/// impl Counter {
///     fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///         let (pending, pended) = irp.mark_pending();
///         self.reads.insert(pending, cx);
///         pended.into()
///     }
/// }
/// ```
pub trait PnpDevice: Sized + Send + Sync + 'static {
    /// Function driver or filter.
    const ROLE: Role;

    /// How the device object is created.
    const OPTIONS: PnpOptions = PnpOptions::new();

    /// The I/O requests the device handles (create, read, IOCTLs, ...).
    const DISPATCH: Dispatch<Self>;

    /// AddDevice: the PnP manager found a device for this driver. The framework has created
    /// the device object and attached it; this makes its state. An error undoes the device
    /// (detached and deleted) and is AddDevice's status.
    fn add_device(device: &NewDevice<'_, Self>) -> Result<Self, Status>;

    /// IRP_MN_START_DEVICE, after the drivers below started the device (forward-and-wait):
    /// program the hardware with its resources. An error fails START, and the PnP manager
    /// sends REMOVE. Once it returns `Ok` the device is started: held I/O is dispatched and the
    /// device interface enabled.
    fn start(&self, started: &Started<'_>, cx: &mut Unlocked) -> Result<(), Status> {
        let _ = (started, cx);
        Ok(())
    }

    /// IRP_MN_QUERY_STOP_DEVICE: may the device stop so its resources can be rebalanced? An
    /// error vetoes it. From `Ok` on, new I/O is held until the device restarts or the stop is
    /// cancelled.
    fn query_stop(&self, cx: &mut Unlocked) -> Result<(), Status> {
        let _ = cx;
        Ok(())
    }

    /// IRP_MN_STOP_DEVICE: release the hardware resources (they may change before START comes
    /// again). It cannot fail (SDV PnpRemove).
    fn stop(&self, cx: &mut Unlocked) {
        let _ = cx;
    }

    /// IRP_MN_QUERY_REMOVE_DEVICE: may the device be removed? An error vetoes it. From `Ok` on,
    /// new creates fail with STATUS_DELETE_PENDING until REMOVE or CANCEL_REMOVE.
    fn query_remove(&self, cx: &mut Unlocked) -> Result<(), Status> {
        let _ = cx;
        Ok(())
    }

    /// IRP_MN_SURPRISE_REMOVAL: the hardware is gone. Fail the requests the device holds; new
    /// ones (except cleanup and close) already fail with STATUS_NO_SUCH_DEVICE. The device stays
    /// attached and alive until REMOVE, after the last handle closes. It cannot fail.
    fn surprise_removal(&self, cx: &mut Unlocked) {
        let _ = cx;
    }

    /// IRP_MN_REMOVE_DEVICE, before it goes down: complete every request the device still
    /// holds. The framework then forwards REMOVE, waits until no request holds the remove lock
    /// (a request kept here is waited for forever: the simulator reports the hang), drops the
    /// state, detaches and deletes the device. It cannot fail.
    fn remove(&self, cx: &mut Unlocked) {
        let _ = cx;
    }

    /// The device is about to leave D0 for `target` (a device SET_POWER, on the way down,
    /// before the drivers below power it off): save what the hardware loses. New I/O is held
    /// from here until [`d0_entry`](Self::d0_entry). Function drivers only. It cannot fail
    /// (SDV PowerDownFail).
    fn d0_exit(&self, target: DevicePowerState, cx: &mut Unlocked) {
        let _ = (target, cx);
    }

    /// The device is back in D0 (on the way up, after the drivers below powered it on):
    /// restore the hardware. Held I/O is dispatched when it returns. Function drivers only. It
    /// cannot fail (SDV PowerUpFail).
    fn d0_entry(&self, cx: &mut Unlocked) {
        let _ = cx;
    }
}

/// What [`PnpDevice::add_device`] gets: the new device object, attached to its stack.
///
/// It cannot be made outside the framework, and it is lent only for the call.
///
/// ```
/// use wdm::pnp::{NewDevice, PnpDevice, Role};
/// use wdm::{Dispatch, LowerDevice, Status};
///
/// struct Filter {
///     lower: LowerDevice<Filter>,
/// }
///
/// impl PnpDevice for Filter {
///     const ROLE: Role = Role::Filter;
///     const DISPATCH: Dispatch<Self> = Dispatch::new();
///
///     fn add_device(device: &NewDevice<'_, Self>) -> Result<Self, Status> {
///         Ok(Filter { lower: device.lower() }) // where requests it handles are passed on
///     }
/// }
/// ```
pub struct NewDevice<'a, D> {
    device: NonNull<DEVICE_OBJECT>,
    pdo: NonNull<DEVICE_OBJECT>,
    lower: NonNull<DEVICE_OBJECT>,
    state: *const D,
    _lent: PhantomData<&'a ()>,
}

impl<D> NewDevice<'_, D> {
    /// The device below this one, which requests are forwarded to
    /// ([`Irp::forward`](crate::Irp::forward), [`Irp::forward_with`](crate::Irp::forward_with)).
    ///
    /// ```
    /// use wdm::pnp::NewDevice;
    /// use wdm::LowerDevice;
    ///
    /// fn keep<D>(device: &NewDevice<'_, D>) -> LowerDevice<D> {
    ///     device.lower()
    /// }
    /// ```
    #[must_use]
    pub fn lower(&self) -> LowerDevice<D> {
        LowerDevice::new(self.lower, self.device, self.state)
    }

    /// The raw device object being added (for calls the framework does not wrap).
    ///
    /// ```
    /// use wdm::pnp::NewDevice;
    ///
    /// fn stack_size<D>(device: &NewDevice<'_, D>) -> i8 {
    ///     // SAFETY: the device is live during AddDevice; reading a field.
    ///     unsafe { (*device.as_raw()).StackSize }
    /// }
    /// ```
    #[must_use]
    pub fn as_raw(&self) -> *mut DEVICE_OBJECT {
        self.device.as_ptr()
    }

    /// The physical device object at the bottom of the stack (what IoGetDeviceProperty and
    /// IoOpenDeviceRegistryKey take).
    ///
    /// ```
    /// use wdm::pnp::NewDevice;
    ///
    /// fn pdo_of<D>(device: &NewDevice<'_, D>) -> *mut wdm::sys::DEVICE_OBJECT {
    ///     device.pdo()
    /// }
    /// ```
    #[must_use]
    pub fn pdo(&self) -> *mut DEVICE_OBJECT {
        self.pdo.as_ptr()
    }
}

/// What [`PnpDevice::start`] gets: the hardware resources the PnP manager assigned.
///
/// ```
/// use wdm::pnp::Started;
///
/// fn has_resources(started: &Started<'_>) -> bool {
///     started.raw_resources().is_some_and(|list| list.Count > 0)
/// }
/// ```
pub struct Started<'a> {
    raw: *const CM_RESOURCE_LIST,
    translated: *const CM_RESOURCE_LIST,
    _lent: PhantomData<&'a CM_RESOURCE_LIST>,
}

impl Started<'_> {
    /// The raw resource list (`AllocatedResources`), or `None` for a device with no resources
    /// (Wine always passes none).
    ///
    /// ```
    /// use wdm::pnp::Started;
    ///
    /// fn lists(started: &Started<'_>) -> u32 {
    ///     started.raw_resources().map_or(0, |list| list.Count)
    /// }
    /// ```
    #[must_use]
    pub fn raw_resources(&self) -> Option<&CM_RESOURCE_LIST> {
        // SAFETY: the PnP manager's list, valid while START is being handled (the borrow of
        // `self`, which is lent only for the hook).
        unsafe { self.raw.as_ref() }
    }

    /// The translated resource list (`AllocatedResourcesTranslated`): the addresses the
    /// processor uses. `None` for a device with no resources.
    ///
    /// ```
    /// use wdm::pnp::Started;
    ///
    /// fn translated(started: &Started<'_>) -> u32 {
    ///     started.translated_resources().map_or(0, |list| list.Count)
    /// }
    /// ```
    #[must_use]
    pub fn translated_resources(&self) -> Option<&CM_RESOURCE_LIST> {
        // SAFETY: as in `raw_resources`.
        unsafe { self.translated.as_ref() }
    }
}

/// Whether `Dispatch` leaves the framework's majors alone; evaluated when the driver's entry is
/// compiled, so a table that names one fails to build.
pub(crate) const fn check_dispatch<D>(dispatch: &Dispatch<D>) {
    assert!(
        !dispatch.handles(wdm_sys::IRP_MJ_PNP),
        "IRP_MJ_PNP belongs to the framework's PnP state machine (SDV PnpIrpCompletion, PnpRemove, NsRemoveLock*): implement the PnpDevice hooks instead"
    );
    assert!(
        !dispatch.handles(wdm_sys::IRP_MJ_POWER),
        "IRP_MJ_POWER belongs to the framework (SDV PowerDownFail, PowerUpFail, MarkPower): implement PnpDevice::d0_entry and d0_exit instead"
    );
    assert!(
        !dispatch.handles(wdm_sys::IRP_MJ_SYSTEM_CONTROL),
        "IRP_MJ_SYSTEM_CONTROL is forwarded by the framework (SDV WmiForward)"
    );
}

/// Runs a hook with the proof that no spin lock is held.
fn with_unlocked<R>(f: impl FnOnce(&mut Unlocked) -> R) -> R {
    // SAFETY: called only from the framework's PnP and power paths, which hold no spin lock.
    let mut cx = unsafe { Unlocked::new() };
    f(&mut cx)
}

/// `Status` for a hook's veto; a hook that returns a non-error status fails with
/// STATUS_UNSUCCESSFUL (a veto must be an error).
fn veto(status: Status) -> Status {
    if status.is_success() {
        Status::UNSUCCESSFUL
    } else {
        status
    }
}
