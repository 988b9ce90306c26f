//! The driver: its entry point, dispatch table and unload.

use core::cell::Cell;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

use wdm_sys::ntddk::IoCreateDevice;
use wdm_sys::{DRIVER_OBJECT, NTSTATUS, PDEVICE_OBJECT, PDRIVER_OBJECT, PIRP, PUNICODE_STRING};

use crate::deferred::Registry;
use crate::device::{Device, DeviceHeader, DeviceOptions, Plain};
use crate::irp::{Irp, Outcome};
use crate::pool::PoolBox;
use crate::{Status, Unlocked};

/// The number of major function codes (`IRP_MJ_MAXIMUM_FUNCTION + 1`).
///
/// ```
/// assert_eq!(wdm::MAJOR_FUNCTIONS, wdm::sys::IRP_MJ_PNP as usize + 1); // IRP_MJ_PNP is the last
/// ```
pub const MAJOR_FUNCTIONS: usize = 28;

/// A dispatch handler: gets the driver's state, the IRP and the [`Unlocked`] proof (no spin
/// lock is held), returns what it did with the IRP.
///
/// Written as a method with a named lifetime, which ties the outcome to this IRP:
///
/// ```
/// use wdm::{Handler, Irp, Outcome, Status, Unlocked};
///
/// struct Beeper;
///
/// impl Beeper {
///     fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///         irp.complete_with(Status::SUCCESS, 0, cx).into()
///     }
/// }
///
/// const READ: Handler<Beeper> = Beeper::read;
/// ```
pub type Handler<D> = for<'irp> fn(&D, Irp<'irp>, &mut Unlocked) -> Outcome<'irp>;

/// Which major functions a driver handles. Only these get `MajorFunction` entries; every
/// other request fails with `STATUS_INVALID_DEVICE_REQUEST` (the I/O manager's default).
///
/// It is a constant, so the dispatch routines call the handlers directly: no table lookup at
/// run time.
///
/// ```
/// use wdm::{Dispatch, Irp, Outcome, Status, Unlocked};
///
/// struct D;
///
/// impl D {
///     fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///         irp.complete(Status::SUCCESS, cx).into()
///     }
/// }
///
/// const TABLE: Dispatch<D> = Dispatch::new().create(D::ok).close(D::ok);
/// assert!(TABLE.handles(wdm::sys::IRP_MJ_CREATE));
/// assert!(!TABLE.handles(wdm::sys::IRP_MJ_READ)); // fails with STATUS_INVALID_DEVICE_REQUEST
/// ```
pub struct Dispatch<D> {
    handlers: [Option<Handler<D>>; MAJOR_FUNCTIONS],
}

impl<D> Dispatch<D> {
    /// No handlers.
    ///
    /// ```
    /// use wdm::{Dispatch, Irp, Outcome, Status, Unlocked};
    ///
    /// struct D;
    ///
    /// impl D {
    ///     fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///         irp.complete(Status::SUCCESS, cx).into()
    ///     }
    /// }
    ///
    /// const NOTHING: Dispatch<D> = Dispatch::new(); // every request fails: STATUS_INVALID_DEVICE_REQUEST
    /// ```
    pub const fn new() -> Self {
        Self {
            handlers: [None; MAJOR_FUNCTIONS],
        }
    }

    /// Handles major function `major` (`IRP_MJ_*`) with `handler`.
    ///
    /// # Panics
    /// At compile time, if `major` is not a major function code.
    ///
    /// ```
    /// use wdm::{Dispatch, Irp, Outcome, Status, Unlocked};
    ///
    /// struct D;
    ///
    /// impl D {
    ///     fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///         irp.complete(Status::SUCCESS, cx).into()
    ///     }
    /// }
    ///
    /// const FLUSH: Dispatch<D> = Dispatch::new().major(wdm::sys::IRP_MJ_FLUSH_BUFFERS, D::ok);
    /// ```
    pub const fn major(mut self, major: u32, handler: Handler<D>) -> Self {
        assert!((major as usize) < MAJOR_FUNCTIONS, "not a major function code");
        self.handlers[major as usize] = Some(handler);
        self
    }

    /// `IRP_MJ_CREATE`: a handle is being opened.
    ///
    /// ```
    /// use wdm::{Dispatch, Irp, Outcome, Status, Unlocked};
    ///
    /// struct D;
    ///
    /// impl D {
    ///     fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///         irp.complete(Status::SUCCESS, cx).into()
    ///     }
    /// }
    ///
    /// const TABLE: Dispatch<D> = Dispatch::new().create(D::ok);
    /// assert!(TABLE.handles(wdm::sys::IRP_MJ_CREATE));
    /// ```
    pub const fn create(self, handler: Handler<D>) -> Self {
        self.major(wdm_sys::IRP_MJ_CREATE, handler)
    }

    /// `IRP_MJ_CLOSE`: the last reference to a file object is gone.
    ///
    /// ```
    /// use wdm::{Dispatch, Irp, Outcome, Status, Unlocked};
    ///
    /// struct D;
    ///
    /// impl D {
    ///     fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///         irp.complete(Status::SUCCESS, cx).into()
    ///     }
    /// }
    ///
    /// const TABLE: Dispatch<D> = Dispatch::new().close(D::ok);
    /// assert!(TABLE.handles(wdm::sys::IRP_MJ_CLOSE));
    /// ```
    pub const fn close(self, handler: Handler<D>) -> Self {
        self.major(wdm_sys::IRP_MJ_CLOSE, handler)
    }

    /// `IRP_MJ_CLEANUP`: the last handle to a file object was closed.
    ///
    /// ```
    /// use wdm::{Dispatch, Irp, Outcome, Status, Unlocked};
    ///
    /// struct D;
    ///
    /// impl D {
    ///     fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///         irp.complete(Status::SUCCESS, cx).into()
    ///     }
    /// }
    ///
    /// const TABLE: Dispatch<D> = Dispatch::new().cleanup(D::ok);
    /// assert!(TABLE.handles(wdm::sys::IRP_MJ_CLEANUP));
    /// ```
    pub const fn cleanup(self, handler: Handler<D>) -> Self {
        self.major(wdm_sys::IRP_MJ_CLEANUP, handler)
    }

    /// `IRP_MJ_READ`.
    ///
    /// ```
    /// use wdm::{Dispatch, Irp, Outcome, Status, Unlocked};
    ///
    /// struct D;
    ///
    /// impl D {
    ///     fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///         irp.complete(Status::SUCCESS, cx).into()
    ///     }
    /// }
    ///
    /// const TABLE: Dispatch<D> = Dispatch::new().read(D::ok);
    /// assert!(TABLE.handles(wdm::sys::IRP_MJ_READ));
    /// ```
    pub const fn read(self, handler: Handler<D>) -> Self {
        self.major(wdm_sys::IRP_MJ_READ, handler)
    }

    /// `IRP_MJ_WRITE`.
    ///
    /// ```
    /// use wdm::{Dispatch, Irp, Outcome, Status, Unlocked};
    ///
    /// struct D;
    ///
    /// impl D {
    ///     fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///         irp.complete(Status::SUCCESS, cx).into()
    ///     }
    /// }
    ///
    /// const TABLE: Dispatch<D> = Dispatch::new().write(D::ok);
    /// assert!(TABLE.handles(wdm::sys::IRP_MJ_WRITE));
    /// ```
    pub const fn write(self, handler: Handler<D>) -> Self {
        self.major(wdm_sys::IRP_MJ_WRITE, handler)
    }

    /// `IRP_MJ_DEVICE_CONTROL`.
    ///
    /// ```
    /// use wdm::{Dispatch, Irp, Outcome, Status, Unlocked};
    ///
    /// struct D;
    ///
    /// impl D {
    ///     fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///         irp.complete(Status::SUCCESS, cx).into()
    ///     }
    /// }
    ///
    /// const TABLE: Dispatch<D> = Dispatch::new().device_control(D::ok);
    /// assert!(TABLE.handles(wdm::sys::IRP_MJ_DEVICE_CONTROL));
    /// ```
    pub const fn device_control(self, handler: Handler<D>) -> Self {
        self.major(wdm_sys::IRP_MJ_DEVICE_CONTROL, handler)
    }

    /// Whether `major` has a handler.
    ///
    /// ```
    /// use wdm::{Dispatch, Irp, Outcome, Status, Unlocked};
    ///
    /// struct D;
    ///
    /// impl D {
    ///     fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///         irp.complete(Status::SUCCESS, cx).into()
    ///     }
    /// }
    ///
    /// const TABLE: Dispatch<D> = Dispatch::new().read(D::ok);
    /// assert!(TABLE.handles(wdm::sys::IRP_MJ_READ) && !TABLE.handles(wdm::sys::IRP_MJ_WRITE));
    /// ```
    #[must_use]
    pub const fn handles(&self, major: u32) -> bool {
        (major as usize) < MAJOR_FUNCTIONS && self.handlers[major as usize].is_some()
    }

    /// The handler of `major`, if any.
    pub(crate) fn handler(&self, major: u8) -> Option<Handler<D>> {
        self.handlers.get(usize::from(major)).copied().flatten()
    }
}

impl<D> Default for Dispatch<D> {
    fn default() -> Self {
        Self::new()
    }
}

/// A WDM driver.
///
/// ```
/// use wdm::{Dispatch, Driver, DriverObject, DeviceOptions, Irp, Outcome, Status, Unlocked, utf16};
///
/// struct Hello;
///
/// impl Driver for Hello {
///     const DISPATCH: Dispatch<Self> = Dispatch::new().create(Self::open).close(Self::open);
///
///     fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
///         driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Hello")))?;
///         Ok(Hello)
///     }
/// }
///
/// impl Hello {
///     fn open<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///         irp.complete(Status::SUCCESS, cx).into()
///     }
/// }
/// ```
///
/// # Unload, and the IRPs the state still holds
///
/// At DriverUnload the framework first stops the driver's timers and work items for good: every
/// timer is cancelled and its DPC has returned, every work item callback has returned, and none
/// can be set or queued again ([`Timer::set`](crate::Timer::set) and
/// [`WorkItem::queue`](crate::WorkItem::queue) return STATUS_INVALID_DEVICE_STATE). Then
/// [`unload`](Driver::unload) runs with the state to itself, at PASSIVE_LEVEL holding no spin
/// lock, so it can complete IRPs. Then the state is dropped, and the driver's devices and
/// symbolic links are deleted.
///
/// IRPs the state still owns when it is dropped are not lost: an [`IrpQueue`](crate::IrpQueue)
/// completes the IRPs left in it with STATUS_CANCELLED, and so does a dropped
/// [`PendingIrp`](crate::PendingIrp). To answer them with another status, complete them in
/// `unload`:
///
/// ```
/// use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, Irp, IrpQueue, Outcome, Status, Unlocked, utf16};
///
/// struct Waiter {
///     waiting: IrpQueue,
/// }
///
/// impl Driver for Waiter {
///     const DISPATCH: Dispatch<Self> = Dispatch::new().create(Self::open).device_control(Self::wait);
///
///     fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
///         driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Waiter")))?;
///         Ok(Waiter { waiting: IrpQueue::new()? })
///     }
///
///     fn unload(&mut self, cx: &mut Unlocked) {
///         // The device is going away: say so, rather than STATUS_CANCELLED.
///         self.waiting.complete_all(Status::NO_SUCH_DEVICE, cx);
///     }
/// }
///
/// impl Waiter {
///     fn open<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///         irp.complete(Status::SUCCESS, cx).into()
///     }
///
///     fn wait<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///         let (pending, pended) = irp.mark_pending();
///         self.waiting.insert(pending, cx);
///         pended.into()
///     }
/// }
///
/// // On the simulator: a request waits; the driver is unloaded with the handle still open.
/// let kernel = wdm_sim::Kernel::new();
/// let driver = kernel.load("waiter", wdm::entry::<Waiter>).unwrap();
/// let file = kernel.open(r"\Device\Waiter").unwrap();
/// let waiting = file.start_ioctl(0x222000, &[], 0);
/// std::mem::forget(file);
/// driver.unload();
/// assert_eq!(waiting.wait().status, Status::NO_SUCH_DEVICE.raw());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `wdm` driver",
    label = "implement `wdm::Driver` for it (its `DISPATCH` table and `init`)",
    note = "a driver's state is shared by every processor: it must be `Send + Sync + 'static`"
)]
pub trait Driver: Sized + Send + Sync + 'static {
    /// The requests the driver handles.
    const DISPATCH: Dispatch<Self>;

    /// DriverEntry: create devices, return the driver's state. On error the framework
    /// deletes what was created and the driver is not loaded. The state lives in one block of
    /// non-paged pool (none if it is zero-sized), so its alignment must be at most 16 (a
    /// larger one does not compile); the block's allocation failing fails the load with
    /// STATUS_INSUFFICIENT_RESOURCES. A driver must create at least one
    /// device (otherwise loading fails with STATUS_INVALID_DEVICE_STATE): the devices are how the
    /// framework finds the state again at unload.
    ///
    /// Timers set and work items queued here are armed only once `init` has returned `Ok` and
    /// the state is written (a due time counts from then), so no callback sees a state that is
    /// not there yet. If `init` fails, they never run.
    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status>;

    /// DriverUnload, at PASSIVE_LEVEL holding no spin lock (`cx`): after every timer and work
    /// item has stopped for good, before the state is dropped (see
    /// [above](Driver#unload-and-the-irps-the-state-still-holds)). The place to complete what
    /// the state still holds with a status of the driver's choosing.
    ///
    /// ```
    /// use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, IrpQueue, Status, Unlocked, utf16};
    ///
    /// struct Reads {
    ///     waiting: IrpQueue,
    /// }
    ///
    /// impl Driver for Reads {
    ///     const DISPATCH: Dispatch<Self> = Dispatch::new();
    ///
    ///     fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
    ///         driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Reads")))?;
    ///         Ok(Reads { waiting: IrpQueue::new()? })
    ///     }
    ///
    ///     fn unload(&mut self, cx: &mut Unlocked) {
    ///         let _answered = self.waiting.complete_all(Status::NO_SUCH_DEVICE, cx);
    ///     }
    /// }
    /// ```
    fn unload(&mut self, _cx: &mut Unlocked) {}
}

/// The driver object, during `Driver::init`.
///
/// ```
/// use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, Status, Timer, TimerCallback, DispatchLevel, Unlocked, utf16};
///
/// struct Ticker {
///     timer: Timer,
/// }
/// struct Tick;
/// impl TimerCallback<Ticker> for Tick {
///     fn expired(_driver: &Ticker, _level: &DispatchLevel, _cx: &mut Unlocked) {}
/// }
///
/// impl Driver for Ticker {
///     const DISPATCH: Dispatch<Self> = Dispatch::new();
///
///     // Devices, timers and work items are made from the driver object, during init only.
///     fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
///         driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Ticker")))?;
///         Ok(Ticker { timer: Timer::new::<Self, Tick>(driver)? })
///     }
/// }
/// ```
pub struct DriverObject<D> {
    raw: NonNull<DRIVER_OBJECT>,
    slot: *mut MaybeUninit<D>,
    /// Made by the first timer or work item (NULL until then).
    registry: Cell<*const Registry>,
    _driver: PhantomData<D>,
}

impl<D: Driver> DriverObject<D> {
    /// The raw driver object.
    pub(crate) fn as_raw(&self) -> *mut DRIVER_OBJECT {
        self.raw.as_ptr()
    }

    /// Where the driver's state will live (initialized when `init` returns).
    pub(crate) fn state_slot(&self) -> *const D {
        self.slot.cast_const().cast()
    }

    /// The driver's deferred-work registry (see `deferred.rs`), made by the first timer or work
    /// item. It lives while the driver holds it (until the end of unload) or any member is alive.
    pub(crate) fn registry(&self) -> Result<*const Registry, Status> {
        if self.registry.get().is_null() {
            let registry = PoolBox::try_new(Registry::new())?;
            self.registry.set(registry.into_raw().as_ptr());
        }
        Ok(self.registry.get())
    }

    /// Creates a device object (and its symbolic link, if the options name one).
    ///
    /// ```
    /// use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, Status, utf16};
    ///
    /// struct Sample;
    ///
    /// impl Driver for Sample {
    ///     const DISPATCH: Dispatch<Self> = Dispatch::new();
    ///
    ///     fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
    ///         driver.create_device(
    ///             &DeviceOptions::new()
    ///                 .name(utf16!("\\Device\\Sample"))
    ///                 .symbolic_link(utf16!("\\DosDevices\\Sample")),
    ///         )?; // on error, init fails and what was created is deleted
    ///         Ok(Sample)
    ///     }
    /// }
    /// ```
    pub fn create_device(&mut self, options: &DeviceOptions) -> Result<Device, Status> {
        let mut name = options.name.map(|n| n.to_unicode_string());
        let name_ptr = name.as_mut().map_or(core::ptr::null_mut(), |n| &raw mut *n);
        let mut raw: PDEVICE_OBJECT = core::ptr::null_mut();
        // SAFETY: a valid driver object and name; `raw` receives the new device.
        let status = unsafe {
            IoCreateDevice(
                self.raw.as_ptr(),
                size_of::<DeviceHeader>() as u32,
                name_ptr,
                options.device_type,
                options.characteristics,
                u8::from(options.exclusive),
                &raw mut raw,
            )
        };
        Status::check(status)?;
        let raw = NonNull::new(raw).ok_or(Status::UNSUCCESSFUL)?;
        // SAFETY: IoCreateDevice gave us a device with an extension of the header's size.
        let header = unsafe { (*raw.as_ptr()).DeviceExtension.cast::<DeviceHeader>() };
        // SAFETY: the extension is ours, sized and aligned (16) for the header, and zeroed by
        // IoCreateDevice: a valid header with no name, links, registry or lower device.
        unsafe { (*header).driver = self.slot.cast_const().cast() };
        if let Some(name) = options.name {
            // SAFETY: as above; the other fields stay as IoCreateDevice zeroed them.
            unsafe { (*header).name = name.as_ptr() };
        }
        // SAFETY: created above by this framework.
        let device = unsafe { Device::from_raw(raw) };
        device.set_io_method(options.io_method);
        if let Some(link) = options.link {
            device.link(link)?;
        }
        Ok(device)
    }
}

wdm_sys::callback! {
/// DriverEntry for driver `D`; [`driver_entry!`](crate::driver_entry) exports it under that
/// name, and a simulator test loads it directly.
///
/// # Safety
/// Called by the I/O manager with a fresh driver object.
///
/// ```
/// use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, Status, utf16};
///
/// struct Sample;
///
/// impl Driver for Sample {
///     const DISPATCH: Dispatch<Self> = Dispatch::new();
///     fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
///         driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Entry")))?;
///         Ok(Sample)
///     }
/// }
///
/// // `driver_entry!(Sample)` exports it; a simulator test loads it directly:
/// let kernel = wdm_sim::Kernel::new();
/// let driver = kernel.load("sample", wdm::entry::<Sample>).unwrap();
/// driver.unload();
/// kernel.assert_clean();
/// ```
pub unsafe fn entry<D: Driver>(driver: PDRIVER_OBJECT, _registry_path: PUNICODE_STRING) -> NTSTATUS {
    let Some(raw) = NonNull::new(driver) else {
        return Status::INVALID_PARAMETER.raw();
    };
    // The driver's state: a block of non-paged pool (none for a zero-sized state). Every
    // device's header points at it, and that is how unload finds it again: a driver must create
    // at least one device. (The driver-object extension would be the textbook place, but Wine's
    // IoAllocateDriverObjectExtension is a stub that fails, and a static would be shared by
    // every driver the simulator loads into one process.)
    let block = match crate::pool::allocate::<MaybeUninit<D>>() {
        Ok(block) => block,
        Err(status) => return status.raw(),
    };
    let slot = block.as_ptr();
    let mut object = DriverObject::<D> {
        raw,
        slot,
        registry: Cell::new(core::ptr::null()),
        _driver: PhantomData,
    };
    let result = match D::init(&mut object) {
        // SAFETY: a valid driver object; its device list names the devices init created.
        Ok(_) if unsafe { (*driver).DeviceObject }.is_null() => Err(Status::INVALID_DEVICE_STATE),
        other => other,
    };
    let registry = object.registry.get();
    match result {
        Ok(state) => {
            // SAFETY: the slot is ours, aligned for D, and big enough.
            unsafe { (*slot).write(state) };
            // SAFETY: init created at least one device (checked above); unload finds the
            // registry in the header of the first one in the list.
            let first = unsafe { (*driver).DeviceObject };
            // SAFETY: a framework device, so its extension starts with the header.
            let header = unsafe { crate::device::header_of(first) };
            // SAFETY: as above; init is over, nothing else touches the header now.
            unsafe { (*header).registry = registry };
            // SAFETY: a valid driver object, not yet visible to any other thread.
            let d = unsafe { &mut *driver };
            for (slot, routine) in d.MajorFunction.iter_mut().zip(Glue::<D>::DISPATCH) {
                if routine.is_some() {
                    *slot = routine;
                }
            }
            d.DriverUnload = Some(Glue::<D>::unload);
            // The state is written: timers set and work items queued during init are armed now.
            // SAFETY: a non-NULL registry lives until the driver releases it (at unload).
            if let Some(registry) = unsafe { registry.as_ref() } {
                registry.start();
            }
            Status::SUCCESS.raw()
        }
        Err(e) => {
            // SAFETY: the driver failed to load; no IRP can reach its devices.
            unsafe { delete_devices(driver) };
            // Nothing was ever armed, and now nothing can be: a timer or work item that outlives
            // init's error (kept in a static) is refused, and frees the registry when dropped.
            if let Some(registry) = NonNull::new(registry.cast_mut()) {
                // SAFETY: made by `DriverObject::registry`; released once, here.
                unsafe { Registry::release(registry) };
            }
            // SAFETY: allocated above; the state was never written.
            unsafe { crate::pool::free(block) };
            e.raw()
        }
    }
}
}

/// Deletes every device of `driver` (with its links), walking the driver object's list.
///
/// # Safety
/// A framework driver's object whose devices receive no more IRPs.
/// Calls `f` with the header of each of the driver's devices.
///
/// # Safety
/// A valid framework driver object whose device list nobody changes meanwhile.
unsafe fn for_each_device(driver: PDRIVER_OBJECT, mut f: impl FnMut(PDEVICE_OBJECT)) {
    // SAFETY: the caller's contract.
    let mut next = unsafe { (*driver).DeviceObject };
    while !next.is_null() {
        f(next);
        // SAFETY: as above.
        next = unsafe { (*next).NextDevice };
    }
}

#[inline(never)] // two callers (failed init, unload): one copy
unsafe fn delete_devices(driver: PDRIVER_OBJECT) {
    // SAFETY: a valid driver object whose device list only we change now.
    let mut next = unsafe { (*driver).DeviceObject };
    while let Some(device) = NonNull::new(next) {
        // SAFETY: a live device in the driver's list.
        next = unsafe { (*device.as_ptr()).NextDevice };
        // SAFETY: every device of a framework driver was created by the framework.
        let device = unsafe { Device::<Plain>::from_raw(device) };
        // SAFETY: no IRPs (caller).
        unsafe { device.delete() };
    }
}

struct Glue<D>(PhantomData<D>);

macro_rules! dispatch_table {
    ($($n:literal)*) => {
        impl<D: Driver> Glue<D> {
            /// The MajorFunction entries: a routine for each handled major, `None` for the rest
            /// (left to the I/O manager's default). Evaluated at compile time, so only the
            /// handled majors' routines are compiled and linked.
            const DISPATCH: [wdm_sys::PDRIVER_DISPATCH; MAJOR_FUNCTIONS] = [$(
                if D::DISPATCH.handles($n) { Some(Glue::<D>::dispatch::<$n>) } else { None }
            ),*];
        }
    };
}
dispatch_table!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27);

impl<D: Driver> Glue<D> {
    wdm_sys::callback! {
        /// The MajorFunction entry for major function `MJ`.
        unsafe fn dispatch<const MJ: usize>(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
            // SAFETY: the I/O manager only sends IRPs to devices this framework created.
            let header = unsafe { crate::device::header_of(device) };
            // SAFETY: the header's driver pointer is the initialized state from the end of
            // init until unload, and no IRP arrives outside that window.
            let state = unsafe { (*header).driver.cast::<D>() };
            // SAFETY: as above: initialized, and only shared (`&D`) while IRPs flow.
            let driver = unsafe { &*state };
            // SAFETY: the I/O manager never passes a NULL IRP.
            let irp = unsafe { NonNull::new_unchecked(irp) };
            // SAFETY: the I/O manager calls MajorFunction[MJ] for IRPs whose current location
            // has major function MJ (IofCallDriver indexes the table with it), and this routine
            // is only in entry MJ. Telling the compiler lets it drop the handler's own checks
            // (`Irp::ioctl`, `Irp::data`) once inlined: the safe API costs nothing here.
            unsafe { core::hint::assert_unchecked(usize::from(crate::irp::major_of(irp)) == MJ) };
            // SAFETY: the I/O manager hands the IRP over to this dispatch routine.
            let irp = unsafe { Irp::from_raw(irp) };
            match D::DISPATCH.handlers[MJ] {
                Some(handler) => {
                    // SAFETY: a dispatch routine is entered holding no spin lock.
                    let mut cx = unsafe { Unlocked::new() };
                    handler(driver, irp, &mut cx).returned()
                }
                // Unreachable: only handled majors get this routine.
                None => irp.complete_unchecked(Status::INVALID_DEVICE_REQUEST, 0).status().raw(),
            }
        }
    }

    wdm_sys::callback! {
        /// DriverUnload: timers and work items stop for good, the driver's own unload runs, the
        /// state is dropped, then its devices and links go.
        unsafe fn unload(driver: PDRIVER_OBJECT) {
            // SAFETY: a valid driver object; a loaded framework driver has at least one device.
            let Some(first) = NonNull::new(unsafe { (*driver).DeviceObject }) else {
                return;
            };
            // SAFETY: every device of a framework driver has the framework's header.
            let header = unsafe { crate::device::header_of(first.as_ptr()) };
            // SAFETY: the header points to the state in the block `entry` allocated.
            let slot = unsafe { (*header).driver }.cast::<D>().cast_mut();
            // SAFETY: as above; set at the end of init, NULL without timers or work items.
            let registry = unsafe { (*header).registry };
            // From here the framework's StartIo, Cancel and completion trampolines finish what
            // still reaches them without the driver (only the simulator unloads with requests
            // in flight: Windows waits until nothing is outstanding).
            // SAFETY: a valid driver object whose device list only unload changes now.
            unsafe { for_each_device(driver, crate::device::set_unloading) };
            // First, no timer DPC or work item may run any more, nor be armed again: then
            // `Driver::unload` has the state to itself, and the state can be dropped.
            // SAFETY: a non-NULL registry lives until it is released below.
            if let Some(registry) = unsafe { registry.as_ref() } {
                registry.quiesce();
            }
            // SAFETY: DriverUnload is entered at PASSIVE_LEVEL holding no spin lock, and the proof
            // is lent to `Driver::unload` for the call.
            let mut cx = unsafe { Unlocked::new() };
            // SAFETY: the state was written at the end of a successful init; unload runs once,
            // after the last IRP, and no callback uses the state any more (quiesced above).
            unsafe { (*slot).unload(&mut cx) };
            // SAFETY: as above; the state is dropped exactly once, here.
            unsafe { core::ptr::drop_in_place(slot) };
            if let Some(registry) = NonNull::new(registry.cast_mut()) {
                // SAFETY: made by `DriverObject::registry`; released once, here, after the state
                // (and so the timers and work items it owned) is gone.
                unsafe { Registry::release(registry) };
            }
            // IRPs the state dropped at DISPATCH_LEVEL (or earlier) are completed by their
            // device's DPC: it must be done before the devices go.
            let mut dropped = false;
            // SAFETY: as above.
            unsafe { for_each_device(driver, |device| dropped |= crate::dropped::used(device)) };
            if dropped {
                // SAFETY: no arguments; at PASSIVE_LEVEL (unload).
                unsafe { wdm_sys::ntddk::KeFlushQueuedDpcs() };
            }
            // SAFETY: none of the driver's devices receives IRPs during unload.
            unsafe { delete_devices(driver) };
            if let Some(block) = NonNull::new(slot.cast::<MaybeUninit<D>>()) {
                // SAFETY: allocated in `entry`; dropped above, and the devices that pointed to it
                // are gone.
                unsafe { crate::pool::free(block) };
            }
        }
    }
}
