//! Device objects and their symbolic links.

use core::marker::PhantomData;
use core::ptr::NonNull;

use wdm_sys::ntddk::{IoCreateSymbolicLink, IoDeleteDevice, IoDeleteSymbolicLink};
use wdm_sys::{DEVICE_OBJECT, DO_BUFFERED_IO, DO_DIRECT_IO, FILE_DEVICE_UNKNOWN};

use crate::{Driver, DriverObject, Status, U16CStr};

/// How a device's read and write requests carry their data (`DO_BUFFERED_IO`,
/// `DO_DIRECT_IO`, or neither).
///
/// ```
/// use wdm::{DeviceOptions, IoMethod};
///
/// // Reads and writes get an MDL for the caller's buffer (DO_DIRECT_IO).
/// const OPTIONS: DeviceOptions = DeviceOptions::new().io_method(IoMethod::Direct);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoMethod {
    /// The I/O manager copies data through a system buffer.
    Buffered,
    /// The I/O manager locks the user buffer and describes it with an MDL.
    Direct,
    /// The driver gets the user-mode address as is.
    Neither,
}

/// What [`DriverObject::create_device`](crate::DriverObject::create_device) creates.
///
/// ```
/// use wdm::{DeviceOptions, IoMethod, utf16};
/// const OPTIONS: DeviceOptions = DeviceOptions::new()
///     .name(utf16!("\\Device\\Minimal"))
///     .symbolic_link(utf16!("\\DosDevices\\Minimal"))
///     .io_method(IoMethod::Buffered);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct DeviceOptions {
    pub(crate) name: Option<U16CStr>,
    pub(crate) link: Option<U16CStr>,
    pub(crate) device_type: u32,
    pub(crate) characteristics: u32,
    pub(crate) exclusive: bool,
    pub(crate) io_method: IoMethod,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl DeviceOptions {
    /// An unnamed `FILE_DEVICE_UNKNOWN` device with buffered I/O, opened by any number of
    /// handles.
    ///
    /// ```
    /// use wdm::{DeviceOptions, IoMethod, utf16};
    ///
    /// const PLAIN: DeviceOptions = DeviceOptions::new(); // unnamed, FILE_DEVICE_UNKNOWN, buffered
    /// ```
    pub const fn new() -> Self {
        Self {
            name: None,
            link: None,
            device_type: FILE_DEVICE_UNKNOWN,
            characteristics: wdm_sys::FILE_DEVICE_SECURE_OPEN,
            exclusive: false,
            io_method: IoMethod::Buffered,
        }
    }

    /// The device's name in the object manager (`\Device\...`).
    ///
    /// ```
    /// use wdm::{DeviceOptions, IoMethod, utf16};
    ///
    /// const NAMED: DeviceOptions = DeviceOptions::new().name(utf16!("\\Device\\Sample"));
    /// ```
    pub const fn name(mut self, name: U16CStr) -> Self {
        self.name = Some(name);
        self
    }

    /// A symbolic link (`\DosDevices\...`) that user mode opens as `\\.\...`; the framework
    /// deletes it before the device at unload.
    ///
    /// ```
    /// use wdm::{DeviceOptions, IoMethod, utf16};
    ///
    /// const OPENABLE: DeviceOptions = DeviceOptions::new()
    ///     .name(utf16!("\\Device\\Sample"))
    ///     .symbolic_link(utf16!("\\DosDevices\\Sample")); // user mode: \\.\Sample
    /// ```
    pub const fn symbolic_link(mut self, link: U16CStr) -> Self {
        self.link = Some(link);
        self
    }

    /// The `FILE_DEVICE_*` type.
    ///
    /// ```
    /// use wdm::{DeviceOptions, IoMethod, utf16};
    ///
    /// const UNKNOWN: DeviceOptions = DeviceOptions::new().device_type(wdm::FILE_DEVICE_UNKNOWN);
    /// ```
    pub const fn device_type(mut self, device_type: u32) -> Self {
        self.device_type = device_type;
        self
    }

    /// `FILE_DEVICE_*` characteristics (default `FILE_DEVICE_SECURE_OPEN`).
    ///
    /// ```
    /// use wdm::{DeviceOptions, IoMethod, utf16};
    ///
    /// const SECURE: DeviceOptions = DeviceOptions::new().characteristics(wdm::sys::FILE_DEVICE_SECURE_OPEN);
    /// ```
    pub const fn characteristics(mut self, characteristics: u32) -> Self {
        self.characteristics = characteristics;
        self
    }

    /// Whether only one handle may be open at a time.
    ///
    /// ```
    /// use wdm::{DeviceOptions, IoMethod, utf16};
    ///
    /// const ONE_HANDLE: DeviceOptions = DeviceOptions::new().exclusive(true);
    /// ```
    pub const fn exclusive(mut self, exclusive: bool) -> Self {
        self.exclusive = exclusive;
        self
    }

    /// How reads and writes carry data.
    ///
    /// ```
    /// use wdm::{DeviceOptions, IoMethod, utf16};
    ///
    /// const NEITHER: DeviceOptions = DeviceOptions::new().io_method(IoMethod::Neither);
    /// ```
    pub const fn io_method(mut self, method: IoMethod) -> Self {
        self.io_method = method;
        self
    }
}

/// What the framework keeps at the start of every device extension it creates.
///
/// IoCreateDevice zeroes the extension (documented; the simulator and Wine do too), and every
/// field is valid as zero bytes (NULL pointers, `None` function pointer, `false`), so creating a
/// device writes only the fields it sets.
#[repr(C)]
pub(crate) struct DeviceHeader {
    /// The driver's state (`*const D`), valid from the end of `Driver::init` to unload.
    pub driver: *const (),
    /// The driver's deferred-work registry, or NULL: set in the first device of the driver's
    /// list at the end of init.
    pub registry: *const crate::deferred::Registry,
    /// The name the device was created with ([`U16CStr::as_ptr`]), or NULL.
    pub name: *const u16,
    /// Symbolic links to delete before the device ([`U16CStr::as_ptr`]; NULL: free slot).
    pub links: [*const u16; MAX_LINKS],
    /// The device this one is attached to (detached at unload), or NULL.
    pub lower: *mut DEVICE_OBJECT,
    /// Its StartIo packets carry a Cancel routine.
    pub cancelable: bool,
    /// Undoes links and attachment before the device is deleted: installed by
    /// `create_symbolic_link` and `attach_to`, so a driver that uses neither does not link the
    /// code.
    pub teardown: Option<fn(&DeviceHeader)>,
    /// Set at the start of unload: from then on the framework's StartIo, Cancel and completion
    /// trampolines finish what reaches them without calling the driver, whose state is about to
    /// be dropped (Windows unloads a driver only once nothing is outstanding; the simulator's
    /// harness may unload with requests in flight).
    pub unloading: core::sync::atomic::AtomicBool,
    /// Owned IRPs dropped at DISPATCH_LEVEL, completed by the device's DPC (src/dropped.rs).
    pub dropped: crate::dropped::Dropped,
    /// A PnP device's header (src/pnp/device.rs), or NULL for a legacy device.
    pub pnp: *const crate::pnp::PnpHeader,
}

/// Marks `device` (a live framework device) as unloading: see [`DeviceHeader::unloading`].
pub(crate) fn set_unloading(device: *mut DEVICE_OBJECT) {
    // SAFETY: framework devices' extensions start with the header.
    let header = unsafe { header_of(device) };
    // SAFETY: as above; only the field's address.
    let flag = unsafe { &raw const (*header).unloading };
    // SAFETY: an atomic in a live device extension.
    unsafe { (*flag).store(true, core::sync::atomic::Ordering::Release) };
}

/// Whether the driver of `device` (a framework device) has started to unload.
///
/// # Safety
/// `device` is a live framework device.
pub(crate) unsafe fn unloading(device: *mut DEVICE_OBJECT) -> bool {
    // SAFETY: the caller's contract: its extension starts with the header.
    let header = unsafe { header_of(device) };
    // SAFETY: as above; only the field's address.
    let flag = unsafe { &raw const (*header).unloading };
    // SAFETY: an atomic, read concurrently with unload's store.
    unsafe { (*flag).load(core::sync::atomic::Ordering::Acquire) }
}

impl DeviceHeader {
    /// Deletes the device's symbolic links and detaches it from the device below.
    fn undo_links_and_attachment(&self) {
        for &link in self.links.iter().filter(|l| !l.is_null()) {
            // SAFETY: links are stored as `U16CStr::as_ptr`.
            let mut s = unsafe { U16CStr::from_ptr(link) }.to_unicode_string();
            // A link that is already gone needs no deleting; nothing else can fail here.
            // SAFETY: a 'static UTF-16 string.
            let _ = unsafe { IoDeleteSymbolicLink(&raw mut s) };
        }
        if !self.lower.is_null() {
            // SAFETY: the device we attached to is live until we detach.
            unsafe { wdm_sys::ntddk::IoDetachDevice(self.lower) };
        }
    }
}

/// The most symbolic links one device can have.
///
/// ```
/// use wdm::{Device, Driver, DriverObject, Status, utf16};
///
/// fn aliases<D: Driver>(device: &Device, driver: &mut DriverObject<D>) -> Result<(), Status> {
///     device.create_symbolic_link(driver, utf16!("\\DosDevices\\A"))?;
///     device.create_symbolic_link(driver, utf16!("\\DosDevices\\B"))?;
///     assert!(wdm::MAX_LINKS >= 2);
///     Ok(())
/// }
/// ```
pub const MAX_LINKS: usize = 4;

/// The framework's header of a device it created.
///
/// # Safety
/// `device` must be a live device object created by this framework.
pub(crate) unsafe fn header_of(device: *mut DEVICE_OBJECT) -> *mut DeviceHeader {
    // SAFETY: framework devices have an extension starting with the header.
    unsafe { (*device).DeviceExtension.cast() }
}

/// A device object this driver created. The framework deletes it (and its symbolic links)
/// when the driver unloads.
///
/// `S` is the device's configuration, in its type: [`Plain`], or a StartIo configuration
/// (see [`start_io`](crate::start_io)), so that what a configuration allows is checked at
/// compile time.
///
/// ```
/// use wdm::{Device, DeviceOptions, Dispatch, Driver, DriverObject, Status, utf16};
///
/// struct Two {
///     control: Device,
///     data: Device,
/// }
///
/// impl Driver for Two {
///     const DISPATCH: Dispatch<Self> = Dispatch::new();
///
///     fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
///         let control = driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\TwoCtl")))?;
///         let data = driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\TwoData")))?;
///         Ok(Two { control, data }) // both deleted by the framework at unload
///     }
/// }
/// ```
pub struct Device<S = Plain> {
    raw: NonNull<DEVICE_OBJECT>,
    _state: PhantomData<S>,
}

/// A device without StartIo.
///
/// ```
/// use wdm::{Device, Plain};
///
/// // A device without StartIo: `Device` is `Device<Plain>`.
/// fn same(device: Device) -> Device<Plain> {
///     device
/// }
/// ```
pub struct Plain;

// Copy only where copying cannot fork a typestate: a `Plain` device can still be given
// StartIo, and a StartIo device mid-configuration can still take either branch (register a
// Cancel routine or not); two copies could take both and break StartIoCancel
// (`tests/ui/fail/start_io/copied_typestate.rs`). A fully configured device and the `Running`
// view StartIo gets configure nothing more.
impl Clone for Device<crate::start_io::Running> {
    fn clone(&self) -> Self {
        *self
    }
}
impl Copy for Device<crate::start_io::Running> {}
impl<D, C, A> Clone for Device<crate::start_io::StartIoState<D, C, crate::start_io::Set<A>>> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<D, C, A> Copy for Device<crate::start_io::StartIoState<D, C, crate::start_io::Set<A>>> {}

// SAFETY: a device object is shared by every processor that sends it IRPs; this handle only
// reads immutable fields and calls routines that synchronize internally.
unsafe impl<S> Send for Device<S> {}
// SAFETY: as above.
unsafe impl<S> Sync for Device<S> {}

impl<S> Device<S> {
    /// # Safety
    /// `raw` must be a device object created by this framework and not yet deleted.
    pub(crate) unsafe fn from_raw(raw: NonNull<DEVICE_OBJECT>) -> Self {
        Self {
            raw,
            _state: PhantomData,
        }
    }

    /// The same device in another configuration state.
    pub(crate) fn with_state<T>(self) -> Device<T> {
        Device {
            raw: self.raw,
            _state: PhantomData,
        }
    }

    /// Whether `irp` was sent to this device.
    ///
    /// ```
    /// use wdm::{Device, Irp, Outcome, Status, Unlocked};
    ///
    /// struct Two {
    ///     control: Device,
    /// }
    ///
    /// impl Two {
    ///     fn create<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///         let status = if self.control.is_target_of(&irp) { Status::SUCCESS } else { Status::INVALID_DEVICE_REQUEST };
    ///         irp.complete(status, cx).into()
    ///     }
    /// }
    /// ```
    #[must_use]
    pub fn is_target_of(&self, irp: &crate::Irp<'_>) -> bool {
        core::ptr::eq(irp.device_object(), self.raw.as_ptr())
    }

    /// The raw device object, for calls the framework does not wrap.
    ///
    /// ```
    /// use wdm::Device;
    ///
    /// fn stack_size(device: &Device) -> i8 {
    ///     // SAFETY: a live device; reading a field the framework does not wrap.
    ///     unsafe { (*device.as_raw()).StackSize }
    /// }
    /// ```
    #[must_use]
    pub fn as_raw(&self) -> *mut DEVICE_OBJECT {
        self.raw.as_ptr()
    }

    pub(crate) fn header(&self) -> *mut DeviceHeader {
        // SAFETY: devices made by the framework always have an extension starting with the
        // header.
        unsafe { (*self.raw.as_ptr()).DeviceExtension.cast() }
    }

    /// Creates a symbolic link to this device; it is deleted before the device at unload. A device
    /// has at most four (STATUS_INSUFFICIENT_RESOURCES beyond).
    ///
    /// Only during `init` (it takes the `&mut DriverObject` only `init` has): the link slots
    /// in the device header are written without a lock, so two processors adding links at
    /// once would race. STATUS_INVALID_PARAMETER for a device of another driver.
    ///
    /// ```
    /// use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, Status, utf16};
    ///
    /// struct Legacy;
    ///
    /// impl Driver for Legacy {
    ///     const DISPATCH: Dispatch<Self> = Dispatch::new();
    ///
    ///     fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
    ///         let device = driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\New")))?;
    ///         device.create_symbolic_link(driver, utf16!("\\DosDevices\\OldName"))?; // deleted at unload
    ///         Ok(Legacy)
    ///     }
    /// }
    /// ```
    pub fn create_symbolic_link<D: Driver>(&self, driver: &mut DriverObject<D>, link: U16CStr) -> Result<(), Status> {
        self.check_owner(driver)?;
        self.link(link)
    }

    /// Creates a symbolic link; the caller is in `init` (it holds the `DriverObject`).
    pub(crate) fn link(&self, link: U16CStr) -> Result<(), Status> {
        let name = self.name().ok_or(Status::INVALID_DEVICE_REQUEST)?;
        // SAFETY: the header is initialized for every framework device, and links are only
        // added during init (the caller holds the `DriverObject`), before the device receives
        // IRPs.
        let links = unsafe { &mut (*self.header()).links };
        let slot = links
            .iter_mut()
            .find(|l| l.is_null())
            .ok_or(Status::INSUFFICIENT_RESOURCES)?;
        let mut link_string = link.to_unicode_string();
        let mut target = name.to_unicode_string();
        // SAFETY: both strings point to 'static UTF-16 data; the kernel copies them.
        Status::check(unsafe { IoCreateSymbolicLink(&raw mut link_string, &raw mut target) })?;
        *slot = link.as_ptr();
        // SAFETY: as above.
        unsafe { (*self.header()).teardown = Some(DeviceHeader::undo_links_and_attachment) };
        Ok(())
    }

    /// The name the device was created with.
    ///
    /// ```
    /// use wdm::{Device, utf16};
    ///
    /// fn is_sample(device: &Device) -> bool {
    ///     device.name() == Some(utf16!("\\Device\\Sample"))
    /// }
    /// ```
    #[must_use]
    pub fn name(&self) -> Option<U16CStr> {
        // SAFETY: the header is initialized for every framework device and the name never
        // changes.
        let name = unsafe { (*self.header()).name };
        // SAFETY: a non-NULL name is stored as `U16CStr::as_ptr`.
        (!name.is_null()).then(|| unsafe { U16CStr::from_ptr(name) })
    }

    pub(crate) fn set_io_method(&self, method: IoMethod) {
        let flag = match method {
            IoMethod::Buffered => DO_BUFFERED_IO,
            IoMethod::Direct => DO_DIRECT_IO,
            IoMethod::Neither => 0,
        };
        // SAFETY: set during init, before the device receives IRPs.
        unsafe { (*self.raw.as_ptr()).Flags |= flag };
    }

    /// Deletes the device's symbolic links, drops its header and deletes it.
    ///
    /// # Safety
    /// The device must receive no more IRPs (unload, or a failed init).
    pub(crate) unsafe fn delete(self) {
        let header = self.header();
        // SAFETY: the header is initialized and nobody else uses it any more (caller).
        let header = unsafe { &*header };
        if let Some(teardown) = header.teardown {
            teardown(header);
        }
        // SAFETY: a device this framework created, with no IRPs left (caller).
        unsafe { IoDeleteDevice(self.raw.as_ptr()) };
    }
}

/// The device below this one in its stack, which IRPs are forwarded to, as attached by driver
/// `D` ([`Device::attach_to`]).
///
/// The driver type is part of the type, and the handle carries the address of that driver's
/// state: a completion routine registered with [`Irp::forward_with`](crate::Irp::forward_with)
/// is for `D` and is handed `D`'s state, never another type's (the hostile review's type
/// confusion: `forward_with::<OtherDriver, _>` does not compile).
///
/// ```
/// use wdm::{Irp, LowerDevice, Outcome, Unlocked};
///
/// struct Filter {
///     lower: LowerDevice<Filter>,
/// }
///
/// impl Filter {
///     fn pass_through<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
///         irp.forward(&self.lower, cx)
///     }
/// }
/// ```
pub struct LowerDevice<D> {
    raw: NonNull<DEVICE_OBJECT>,
    /// The device attached on `raw`: IRPs sent to it are sized for this stack, and only they
    /// are forwarded.
    upper: NonNull<DEVICE_OBJECT>,
    /// The attaching driver's state slot: initialized from the end of its `init` to its unload,
    /// the window in which IRPs are forwarded and completed.
    state: *const D,
}

// SAFETY: a device object in the stack is shared by every processor sending it IRPs; this
// handle only passes its address to IoCallDriver, and the state to completion routines as
// `&D`, which is `Sync` (every `Driver` is).
unsafe impl<D: Sync> Send for LowerDevice<D> {}
// SAFETY: as above.
unsafe impl<D: Sync> Sync for LowerDevice<D> {}

impl<D> LowerDevice<D> {
    /// The handle for `upper`, attached on `raw`, whose completion routines get `state`.
    pub(crate) fn new(raw: NonNull<DEVICE_OBJECT>, upper: NonNull<DEVICE_OBJECT>, state: *const D) -> Self {
        Self { raw, upper, state }
    }

    /// The state completion routines of `forward_with` get.
    pub(crate) fn state(&self) -> *const D {
        self.state
    }

    /// Whether `device` is the device attached on this one (so an IRP sent to it has a stack
    /// location for every driver below).
    pub(crate) fn is_below(&self, device: *const DEVICE_OBJECT) -> bool {
        if !core::ptr::eq(device, self.upper.as_ptr()) {
            return false;
        }
        // A PnP device is deleted at REMOVE, and a later device may get its address: a handle
        // kept from the old one must not forward to the old one's lower device.
        // SAFETY: `device` is the live framework device the caller's IRP was sent to.
        let header = unsafe { crate::device::header_of(device.cast_mut()) };
        // SAFETY: as above: its header, written when it was created.
        let pnp = unsafe { (*header).pnp };
        // SAFETY: a PnP device's header, live with the device.
        pnp.is_null() || core::ptr::eq(unsafe { (*pnp).lower }, self.raw.as_ptr())
    }

    /// The raw device object.
    ///
    /// ```
    /// use wdm::LowerDevice;
    ///
    /// fn lower_stack_size<D>(lower: &LowerDevice<D>) -> i8 {
    ///     // SAFETY: the lower device stays live while we are attached to it.
    ///     unsafe { (*lower.as_raw()).StackSize }
    /// }
    /// ```
    #[must_use]
    pub fn as_raw(&self) -> *mut DEVICE_OBJECT {
        self.raw.as_ptr()
    }
}

impl<S> Device<S> {
    /// Attaches this device on top of the stack `target` belongs to (IoAttachDeviceToDeviceStack)
    /// and returns the device it now sits on, which its IRPs are forwarded to. The framework
    /// detaches it at unload, before deleting it.
    ///
    /// Only during `init`: it takes the `&mut DriverObject` only `init` has, because it writes
    /// the device header without a lock (two processors attaching at once would race on it),
    /// and a device attaches before it receives IRPs. STATUS_INVALID_PARAMETER for a device of
    /// another driver, and for an attachment that would make a cycle (the device is already
    /// the top of `target`'s stack, or `target` itself); STATUS_INVALID_DEVICE_STATE for a
    /// device already attached, or one something is attached on (its stack size, which IRPs
    /// sent to those above were sized by, would go stale).
    ///
    /// ```
    /// use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, LowerDevice, Status, utf16};
    ///
    /// struct Filter {
    ///     lower: LowerDevice<Filter>,
    /// }
    ///
    /// impl Driver for Filter {
    ///     const DISPATCH: Dispatch<Self> = Dispatch::new();
    ///
    ///     fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
    ///         let function = driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Fn")))?;
    ///         let filter = driver.create_device(&DeviceOptions::new())?;
    ///         let lower = filter.attach_to(driver, &function)?; // detached at unload
    ///         Ok(Filter { lower })
    ///     }
    /// }
    /// ```
    pub fn attach_to<D: Driver, T>(
        &self,
        driver: &mut DriverObject<D>,
        target: &Device<T>,
    ) -> Result<LowerDevice<D>, Status> {
        self.check_owner(driver)?;
        // SAFETY: the header is initialized for every framework device; `driver` is borrowed
        // exclusively, so this is `init` and nothing else touches the header.
        if !unsafe { (*self.header()).lower }.is_null() {
            return Err(Status::INVALID_DEVICE_STATE);
        }
        // SAFETY: a live device object; `AttachedDevice` is read only.
        if !unsafe { (*self.as_raw()).AttachedDevice }.is_null() {
            return Err(Status::INVALID_DEVICE_STATE);
        }
        // The device IoAttachDeviceToDeviceStack would attach to: the top of `target`'s stack.
        let mut top = target.as_raw();
        // SAFETY: live device objects, linked upwards by `AttachedDevice` (read only).
        while let Some(above) = NonNull::new(unsafe { (*top).AttachedDevice }) {
            top = above.as_ptr();
        }
        if core::ptr::eq(top, self.as_raw()) {
            return Err(Status::INVALID_PARAMETER); // attaching a stack onto itself
        }
        // SAFETY: two live framework devices.
        let lower = unsafe { wdm_sys::ntddk::IoAttachDeviceToDeviceStack(self.as_raw(), target.as_raw()) };
        let raw = NonNull::new(lower).ok_or(Status::NO_SUCH_DEVICE)?;
        // SAFETY: as above: `init`, the header is ours alone.
        unsafe { (*self.header()).lower = lower };
        // SAFETY: as above.
        unsafe { (*self.header()).teardown = Some(DeviceHeader::undo_links_and_attachment) };
        // SAFETY: the lower device is live; the flags are copied during init, as filters do.
        let flags = unsafe { (*lower).Flags } & (DO_BUFFERED_IO | DO_DIRECT_IO);
        // SAFETY: our own device, during init.
        unsafe { (*self.as_raw()).Flags |= flags };
        Ok(LowerDevice {
            raw,
            upper: self.raw,
            state: driver.state_slot(),
        })
    }

    /// STATUS_INVALID_PARAMETER unless this device was created by `driver` (a device handle
    /// smuggled from another driver, through a static, on the simulator).
    fn check_owner<D: Driver>(&self, driver: &DriverObject<D>) -> Result<(), Status> {
        // SAFETY: a live device object; `DriverObject` is set by IoCreateDevice and constant.
        let owner = unsafe { (*self.raw.as_ptr()).DriverObject };
        if core::ptr::eq(owner, driver.as_raw()) {
            Ok(())
        } else {
            Err(Status::INVALID_PARAMETER)
        }
    }
}
