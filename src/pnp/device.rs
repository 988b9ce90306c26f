//! A PnP device object: its extension, AddDevice, the dispatch routines, the I/O treatment per
//! state, and unload.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use wdm_sys::ntddk::{
    IoAcquireRemoveLock, IoAllocateWorkItem, IoAttachDeviceToDeviceStack, IoCallDriver, IoCreateDevice, IoDeleteDevice,
    IoDetachDevice, IoFreeWorkItem, IoGetCurrentIrpStackLocation, IoInitializeRemoveLock, IoRegisterDeviceInterface,
    IoReleaseRemoveLock, IoSetDeviceInterfaceState, IoSkipCurrentIrpStackLocation, RtlFreeUnicodeString,
};
use wdm_sys::{
    DEVICE_OBJECT, DO_BUFFERED_IO, DO_DEVICE_INITIALIZING, DO_DIRECT_IO, DO_POWER_PAGABLE, IO_REMOVE_LOCK, IRP,
    IRP_MJ_CLEANUP, IRP_MJ_CLOSE, IRP_MJ_CREATE, IRP_MJ_PNP, IRP_MJ_POWER, IRP_MJ_SYSTEM_CONTROL, NTSTATUS,
    PDEVICE_OBJECT, PDRIVER_OBJECT, PIO_WORKITEM, PIRP, PUNICODE_STRING, UNICODE_STRING,
};

use super::{NewDevice, PnpDevice, Role};
use crate::device::DeviceHeader;
use crate::driver::MAJOR_FUNCTIONS;
use crate::irp::{Irp, Outcome};
use crate::{IoMethod, IrpQueue, Status, Unlocked};

/// Where a PnP device is in its life (pnp-power.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum PnpState {
    /// AddDevice ran; START has not succeeded yet.
    NotStarted = 0,
    Started = 1,
    /// QUERY_STOP succeeded: new I/O is held.
    StopPending = 2,
    /// STOP: the hardware is released; I/O is held until START.
    Stopped = 3,
    /// QUERY_REMOVE succeeded: new creates fail.
    RemovePending = 4,
    /// SURPRISE_REMOVAL: everything but cleanup and close fails.
    SurpriseRemoved = 5,
    /// REMOVE has begun.
    Deleted = 6,
}

impl PnpState {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Started,
            2 => Self::StopPending,
            3 => Self::Stopped,
            4 => Self::RemovePending,
            5 => Self::SurpriseRemoved,
            6 => Self::Deleted,
            _ => Self::NotStarted,
        }
    }
}

/// What the framework keeps for a PnP device, after the common [`DeviceHeader`].
///
/// Every field is valid as zero bytes (IoCreateDevice zeroes the extension): NULL pointers,
/// `None`, zero atomics (`NotStarted`, power state unknown), an all-zero remove lock that
/// AddDevice initialises before anything can use it.
pub(crate) struct PnpHeader {
    /// The device's one remove lock (SDV MultRemoveLock).
    pub lock: UnsafeCell<IO_REMOVE_LOCK>,
    /// A [`PnpState`].
    pub state: AtomicU8,
    /// The state QUERY_REMOVE found, which CANCEL_REMOVE restores.
    pub before_query_remove: AtomicU8,
    /// The device power state (`DevicePowerState` as a number: 1 = D0 .. 4 = D3); 0 before START.
    pub power: AtomicU8,
    /// The device this one is attached to (IoAttachDeviceToDeviceStack's result).
    pub lower: *mut DEVICE_OBJECT,
    /// The PDO at the bottom of the stack.
    pub pdo: *mut DEVICE_OBJECT,
    pub filter: bool,
    /// The device interface's symbolic link (IoRegisterDeviceInterface), Buffer NULL if none.
    pub interface: UnsafeCell<UNICODE_STRING>,
    pub interface_enabled: AtomicBool,
    /// I/O held while the device is stopping, stopped or out of D0 (function drivers).
    pub held: Option<IrpQueue>,
    /// DEVICE_CAPABILITIES.DeviceState: the D-state for each S-state (S0..S5 at 1..6), 0 if not
    /// reported yet.
    pub device_states: [AtomicU8; 7],
    /// The work item that finishes a power-up at PASSIVE_LEVEL (function drivers).
    pub work_item: PIO_WORKITEM,
    /// The state was written (AddDevice's hook succeeded) and not yet dropped.
    pub live: AtomicBool,
    /// Requests between their arrival and the end of their handler (or their hold or failure):
    /// what [`PnpHeader::quiesce`] waits for.
    pub active: core::sync::atomic::AtomicUsize,
    /// Dispatch calls between their acquisition of the remove lock and their last use of the
    /// device: what REMOVE waits for, after IoReleaseRemoveLockAndWait, before the extension
    /// goes (a call can outlive its IRP's acquisition: a handler that completes its pended
    /// request and goes on, a filter's handler that REMOVE's state change does not stop).
    pub calls: core::sync::atomic::AtomicUsize,
}

impl PnpHeader {
    pub(crate) fn state(&self) -> PnpState {
        PnpState::from_u8(self.state.load(Ordering::SeqCst))
    }

    pub(crate) fn set_state(&self, state: PnpState) {
        self.state.store(state as u8, Ordering::SeqCst);
    }

    pub(crate) fn lock(&self) -> *mut IO_REMOVE_LOCK {
        self.lock.get()
    }

    /// Whether new hardware I/O waits: the device is stopping or stopped, or started but not
    /// in D0.
    pub(crate) fn holds_io(&self) -> bool {
        match self.state() {
            PnpState::StopPending | PnpState::Stopped => true,
            PnpState::Started => !matches!(self.power.load(Ordering::SeqCst), 0 | 1),
            _ => false,
        }
    }

    /// Waits until every request that arrived before the caller's state change has been
    /// handled, held or failed (its handler has returned), so a hook that follows — the stop,
    /// surprise-removal and remove hooks, leaving D0 — finds everything a handler queued before
    /// the change, and no handler still touching the hardware. Without it, a request that read
    /// "started" just before SURPRISE_REMOVAL could queue itself after the hook flushed the
    /// queue, and wait for ever. At PASSIVE_LEVEL only (PnP IRPs, and device power IRPs on a
    /// pageable stack, arrive there); at a higher IRQL it does not wait.
    pub(crate) fn quiesce(&self) {
        if wdm_sys::inline::KeGetCurrentIrql() != wdm_sys::PASSIVE_LEVEL as wdm_sys::KIRQL {
            return;
        }
        wait_until(|| self.active.load(Ordering::SeqCst) == 0);
    }

    /// Whether the driver has the hardware (started, or stopping): the D0 hooks run only then
    /// (a power IRP to a device not started, or already removed, touches no hardware).
    pub(crate) fn has_hardware(&self) -> bool {
        matches!(
            self.state(),
            PnpState::Started | PnpState::StopPending | PnpState::RemovePending
        )
    }

    /// Waits until the only dispatch call on the device is the caller's (REMOVE, after its
    /// wait for the remove lock).
    pub(crate) fn wait_for_other_calls(&self) {
        wait_until(|| self.calls.load(Ordering::SeqCst) <= 1);
    }

    /// Enables or disables the device interface, if it has one and it is not already so.
    pub(crate) fn set_interface(&self, enable: bool) {
        // SAFETY: written once at AddDevice, before any IRP; read-only afterwards.
        let name = unsafe { &*self.interface.get() };
        if name.Buffer.is_null() || self.interface_enabled.swap(enable, Ordering::SeqCst) == enable {
            return;
        }
        // SAFETY: the name IoRegisterDeviceInterface returned. A failure leaves the interface as
        // it was, which nothing here can improve (the simulator reports what matters).
        let _ = unsafe { IoSetDeviceInterfaceState(self.interface.get(), u8::from(enable)) };
    }
}

/// Polls `done` every millisecond. At PASSIVE_LEVEL only (the callers check or know it).
fn wait_until(done: impl Fn() -> bool) {
    // 1 ms, relative.
    let mut interval = wdm_sys::LARGE_INTEGER { QuadPart: -10_000 };
    while !done() {
        // SAFETY: PASSIVE_LEVEL (the caller's contract); a relative interval on the stack.
        let _ =
            unsafe { wdm_sys::ntddk::KeDelayExecutionThread(wdm_sys::_MODE::KernelMode as i8, 0, &raw mut interval) };
    }
}

/// A PnP device's extension: the common header, the PnP header, the driver's state.
#[repr(C)]
pub(crate) struct Extension<D> {
    pub header: DeviceHeader,
    pub pnp: PnpHeader,
    pub state: MaybeUninit<D>,
}

/// What the PnP paths see of a device's extension: its PnP header and its state, never the
/// common header (other paths write the common header's dropped-IRP lock and list through raw
/// pointers, which a shared reference covering it would forbid).
pub(crate) struct Ext<'a, D> {
    pub pnp: &'a PnpHeader,
    pub state: &'a MaybeUninit<D>,
}

impl<D> Clone for Ext<'_, D> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<D> Copy for Ext<'_, D> {}

/// The PnP header and state of a PnP device of `D`.
///
/// # Safety
/// `device` is a live device created by [`add`] for `D`, which stays live (and its state
/// initialised, where the caller reads it) while the view is used: the caller's IRP holds the
/// remove lock, or it is AddDevice or the teardown.
pub(crate) unsafe fn extension<'a, D>(device: *mut DEVICE_OBJECT) -> Ext<'a, D> {
    // SAFETY: the caller's contract: a live device.
    let base = unsafe { (*device).DeviceExtension }.cast::<Extension<D>>();
    // SAFETY: the caller's contract: the extension is an `Extension<D>`, whose PnP header is
    // shared (its mutable parts are atomics or cells, or written only at AddDevice and in the
    // teardown, when nothing else uses it).
    let pnp = unsafe { &(*base).pnp };
    // SAFETY: as above; the state is only read through shared references (its own cells
    // excepted), and dropped only in the teardown.
    let state = unsafe { &(*base).state };
    Ext { pnp, state }
}

/// What a dispatch path did with the IRP's acquisition of the remove lock.
#[must_use]
pub(crate) struct Dispatched {
    /// What the dispatch routine returns.
    pub status: NTSTATUS,
    /// The IRP is done with the device (completed, failed, or forwarded and returned): the
    /// dispatch routine releases the acquisition, as its very last use of the device. False:
    /// the IRP keeps it (pended, held, forwarded with a completion routine, or REMOVE's, which
    /// IoReleaseRemoveLockAndWait consumed).
    pub release: bool,
    /// REMOVE deleted the device: the dispatch routine must not touch it again.
    pub gone: bool,
}

impl Dispatched {
    pub(crate) fn done(status: NTSTATUS) -> Self {
        Self {
            status,
            release: true,
            gone: false,
        }
    }

    pub(crate) fn kept(status: NTSTATUS) -> Self {
        Self {
            status,
            release: false,
            gone: false,
        }
    }
}

/// The extension of a device of `D`, exclusively.
///
/// # Safety
/// `device` is a live device created by [`add`] for `D` (or being created), and nothing else
/// uses its extension for the borrow's lifetime (AddDevice, and the teardown after the last
/// request).
unsafe fn extension_mut<'a, D>(device: *mut DEVICE_OBJECT) -> &'a mut Extension<D> {
    // SAFETY: the caller's contract: a live device.
    let raw = unsafe { (*device).DeviceExtension };
    // SAFETY: the caller's contract: an `Extension<D>` (or its zeroed bytes, all valid), used by
    // nobody else.
    unsafe { &mut *raw.cast::<Extension<D>>() }
}

/// The remove lock of `device`, or NULL when it is not a PnP device.
///
/// # Safety
/// `device` is a live framework device.
pub(crate) unsafe fn remove_lock_of(device: *const DEVICE_OBJECT) -> *mut IO_REMOVE_LOCK {
    // SAFETY: the caller's contract: framework devices' extensions start with the header.
    let header = unsafe { crate::device::header_of(device.cast_mut()) };
    // SAFETY: as above; `pnp` is written at AddDevice before the device gets IRPs.
    let pnp = unsafe { (*header).pnp };
    if pnp.is_null() {
        core::ptr::null_mut()
    } else {
        // SAFETY: a PnP device's header, live with the device.
        unsafe { (*pnp).lock() }
    }
}

/// Completes an owned IRP as `complete` does and, for a PnP device, releases the remove lock
/// its dispatch took: the lock is looked up before the completion and released after it (the
/// documented order: the device cannot be deleted while the IRP still counts).
pub(crate) fn release_for_completion(irp: NonNull<IRP>, complete: impl FnOnce(NonNull<IRP>)) {
    let device = crate::irp::device_of(irp);
    // SAFETY: every owned IRP was dispatched to a live framework device.
    let lock = unsafe { remove_lock_of(device) };
    complete(irp);
    if !lock.is_null() {
        // SAFETY: the lock of a PnP device, which this IRP's acquisition keeps alive until now.
        unsafe { IoReleaseRemoveLock(lock, irp.as_ptr().cast()) };
    }
}

/// Releases the acquisition tagged `irp` on `device`'s lock, if it is a PnP device.
///
/// # Safety
/// `device` is a live framework device and the IRP holds an acquisition on it.
pub(crate) unsafe fn release(device: *const DEVICE_OBJECT, irp: PIRP) {
    // SAFETY: the caller's contract.
    let lock = unsafe { remove_lock_of(device) };
    if !lock.is_null() {
        // SAFETY: as above.
        unsafe { IoReleaseRemoveLock(lock, irp.cast()) };
    }
}

/// Completes `irp` with `status` (no information); the dispatch routine then releases its
/// acquisition.
///
/// # Safety
/// The caller owns the IRP, dispatched to a PnP device, holding its acquisition.
pub(crate) unsafe fn complete(irp: PIRP, status: NTSTATUS) -> Dispatched {
    // SAFETY: the caller's contract.
    unsafe { crate::irp::set_status(irp, status) };
    // SAFETY: as above; given up here.
    unsafe { wdm_sys::ntddk::IoCompleteRequest(irp, wdm_sys::IO_NO_INCREMENT as _) };
    Dispatched::done(status)
}

/// Passes `irp` down untouched (skip + IoCallDriver); the dispatch routine then releases its
/// acquisition.
///
/// # Safety
/// As [`complete`]; the IRP has a location for `lower`.
pub(crate) unsafe fn pass_down(lower: *mut DEVICE_OBJECT, irp: PIRP) -> Dispatched {
    // SAFETY: the caller's contract: the IRP has a location for the lower device.
    unsafe { IoSkipCurrentIrpStackLocation(irp) };
    // SAFETY: as above.
    Dispatched::done(unsafe { IoCallDriver(lower, irp) })
}

wdm_sys::callback! {
/// DriverEntry of a PnP driver whose devices are `D`: installs AddDevice, the dispatch
/// routines and unload. [`pnp_driver_entry!`](crate::pnp_driver_entry) exports it; a simulator
/// test loads it directly.
///
/// # Safety
/// Called by the I/O manager with a fresh driver object.
///
/// ```
/// use wdm::pnp::{NewDevice, PnpDevice, Role};
/// use wdm::{Dispatch, Status};
///
/// struct Quiet;
///
/// impl PnpDevice for Quiet {
///     const ROLE: Role = Role::Function;
///     const DISPATCH: Dispatch<Self> = Dispatch::new();
///     fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
///         Ok(Quiet)
///     }
/// }
///
/// let kernel = wdm_sim::Kernel::new();
/// let driver = kernel.load("quiet", wdm::pnp::entry::<Quiet>).unwrap(); // no device yet
/// driver.unload();
/// kernel.assert_clean();
/// ```
pub unsafe fn entry<D: PnpDevice>(driver: PDRIVER_OBJECT, _registry_path: PUNICODE_STRING) -> NTSTATUS {
    const { super::check_dispatch(&D::DISPATCH) };
    let Some(raw) = NonNull::new(driver) else {
        return Status::INVALID_PARAMETER.raw();
    };
    // SAFETY: a fresh driver object, not yet visible to any other thread.
    let d = unsafe { &mut *raw.as_ptr() };
    for (slot, routine) in d.MajorFunction.iter_mut().zip(Glue::<D>::DISPATCH) {
        if routine.is_some() {
            *slot = routine;
        }
    }
    d.DriverUnload = Some(Glue::<D>::unload);
    // SAFETY: every driver object has its extension.
    unsafe { (*d.DriverExtension).AddDevice = Some(Glue::<D>::add_device) };
    Status::SUCCESS.raw()
}
}

struct Glue<D>(PhantomData<D>);

macro_rules! pnp_dispatch_table {
    ($($n:literal)*) => {
        impl<D: PnpDevice> Glue<D> {
            /// The MajorFunction entries: PnP, power and WMI always; the handled majors; and, for
            /// a filter, every other major too (passed down).
            const DISPATCH: [wdm_sys::PDRIVER_DISPATCH; MAJOR_FUNCTIONS] = [$(
                if D::DISPATCH.handles($n)
                    || matches!(D::ROLE, Role::Filter)
                    || $n == IRP_MJ_PNP as usize
                    || $n == IRP_MJ_POWER as usize
                    || $n == IRP_MJ_SYSTEM_CONTROL as usize
                {
                    Some(Glue::<D>::dispatch::<$n>)
                } else {
                    None
                }
            ),*];
        }
    };
}
pnp_dispatch_table!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27);

impl<D: PnpDevice> Glue<D> {
    wdm_sys::callback! {
        /// AddDevice: create, attach, initialise, call the hook; undo on failure.
        unsafe fn add_device(driver: PDRIVER_OBJECT, pdo: PDEVICE_OBJECT) -> NTSTATUS {
            // SAFETY: the PnP manager passes the driver and a live PDO at PASSIVE_LEVEL.
            match unsafe { add::<D>(driver, pdo) } {
                Ok(()) => Status::SUCCESS.raw(),
                Err(status) => status.raw(),
            }
        }
    }

    wdm_sys::callback! {
        /// The MajorFunction entry for major `MJ`: takes the remove lock, then PnP, power, WMI or
        /// the I/O path.
        unsafe fn dispatch<const MJ: usize>(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
            // SAFETY: the I/O manager only sends IRPs to devices this driver's AddDevice made.
            let ext = unsafe { extension::<D>(device) };
            let lock = ext.pnp.lock();
            // SAFETY: an initialised lock (AddDevice, before the device got IRPs); the IRP is the tag.
            let acquired = unsafe { IoAcquireRemoveLock(lock, irp.cast()) };
            if acquired < 0 {
                // REMOVE has begun: the device takes no new work (SDV RemoveLock*).
                // SAFETY: our IRP; completed once.
                unsafe { crate::irp::set_status(irp, acquired) };
                // SAFETY: as above.
                unsafe { wdm_sys::ntddk::IoCompleteRequest(irp, wdm_sys::IO_NO_INCREMENT as _) };
                return acquired;
            }
            // From here the IRP holds an acquisition: released below when the IRP is done with
            // the device, kept by the IRP otherwise. The call is counted until its last use of
            // the device (REMOVE waits for the count).
            let calls = &ext.pnp.calls;
            calls.fetch_add(1, Ordering::SeqCst);
            let dispatched = match MJ as u32 {
                // SAFETY: a PnP IRP dispatched to a device of `D`, holding its acquisition.
                IRP_MJ_PNP => unsafe { super::minor::dispatch::<D>(device, irp) },
                // SAFETY: as above, a power IRP.
                IRP_MJ_POWER => unsafe { super::power::dispatch::<D>(device, ext, irp) },
                // SAFETY: as above; WMI IRPs go down untouched (the device is no WMI provider).
                IRP_MJ_SYSTEM_CONTROL => unsafe { pass_down(ext.pnp.lower, irp) },
                // SAFETY: as above, an I/O request of major `MJ`.
                _ => unsafe { request::<D>(device, ext, irp, MJ as u8) },
            };
            if dispatched.release {
                // SAFETY: the acquisition taken above, released once.
                unsafe { IoReleaseRemoveLock(lock, irp.cast()) };
            }
            if !dispatched.gone {
                // The last use of the device: REMOVE may free it as soon as the count drops.
                calls.fetch_sub(1, Ordering::SeqCst);
            }
            dispatched.status
        }
    }

    wdm_sys::callback! {
        /// DriverUnload. Windows unloads a PnP driver only after its last device's REMOVE, so
        /// there is normally nothing left. A device still here (a simulator test unloading
        /// early) is torn down as REMOVE would, without the IRP, if no request holds its remove
        /// lock; one that a request still holds is left alive (and so reported as leaked):
        /// tearing it down would free what that request's completion still uses.
        unsafe fn unload(driver: PDRIVER_OBJECT) {
            // SAFETY: a valid driver object whose device list only unload changes now.
            let mut next = unsafe { (*driver).DeviceObject };
            while !next.is_null() {
                let device = next;
                // SAFETY: as above.
                next = unsafe { (*device).NextDevice };
                // SAFETY: every device of this driver was made by `add` for `D`.
                let lock = unsafe { extension::<D>(device) }.pnp.lock();
                // SAFETY: only the field's address, in the live lock.
                let field = unsafe { &raw mut (*lock).Common.IoCount };
                // SAFETY: an aligned `LONG` of the live lock, read atomically (requests change it
                // concurrently, with interlocked operations).
                let count = unsafe { core::sync::atomic::AtomicI32::from_ptr(field) }.load(Ordering::SeqCst);
                if count > 1 {
                    crate::print::print(format_args!(
                        "wdm: unload with a request still holding a PnP device's remove lock: the device is left\n"
                    ));
                    continue;
                }
                // SAFETY: a device of `D` that no request holds and none reaches (unload).
                unsafe { teardown::<D>(device) };
            }
        }
    }
}

/// Creates, attaches and initialises a device for `pdo`, then runs the hook.
///
/// # Safety
/// AddDevice's contract: the driver object of `D`'s driver and a live PDO, at PASSIVE_LEVEL.
unsafe fn add<D: PnpDevice>(driver: PDRIVER_OBJECT, pdo: PDEVICE_OBJECT) -> Result<(), Status> {
    const {
        assert!(
            align_of::<Extension<D>>() <= 16,
            "a PnP device's state must not need more than 16-byte alignment (the extension's)"
        );
    };
    let pdo = NonNull::new(pdo).ok_or(Status::INVALID_PARAMETER)?;
    let options = D::OPTIONS;
    let filter = matches!(D::ROLE, Role::Filter);
    let mut raw: PDEVICE_OBJECT = core::ptr::null_mut();
    let size = u32::try_from(size_of::<Extension<D>>()).map_err(|_| Status::INVALID_PARAMETER)?;
    // SAFETY: the driver object AddDevice got; unnamed; `raw` receives the device.
    Status::check(unsafe {
        IoCreateDevice(
            driver,
            size,
            core::ptr::null_mut(),
            options.device_type,
            options.characteristics,
            0,
            &raw mut raw,
        )
    })?;
    let device = NonNull::new(raw).ok_or(Status::UNSUCCESSFUL)?;
    // SAFETY: IoCreateDevice gave a zeroed extension of `Extension<D>`'s size, 16-aligned
    // (checked above): every field is valid as zeroes, and nobody else sees the device yet.
    let ext = unsafe { extension_mut::<D>(raw) };
    // The pointers kept past AddDevice (in the header, and the state pointer completion routines
    // get) are derived from the extension's own address, never from `ext`: a pointer derived from
    // a `&mut` is invalidated when the extension is next reached another way (Stacked Borrows;
    // Miri found it).
    // SAFETY: a live device; reading its extension pointer.
    let base = unsafe { (*raw).DeviceExtension }.cast::<Extension<D>>();
    // SAFETY: an address computation inside the live extension; no access.
    let state = unsafe { &raw mut (*base).state }.cast::<D>();
    // SAFETY: as above.
    let pnp = unsafe { &raw const (*base).pnp };
    ext.header.driver = state.cast_const().cast();
    ext.header.pnp = pnp;
    ext.pnp.pdo = pdo.as_ptr();
    ext.pnp.filter = filter;
    // SAFETY: the lock in the fresh extension, initialised once, at PASSIVE_LEVEL.
    unsafe { IoInitializeRemoveLock(ext.pnp.lock(), crate::POOL_TAG, 0, 0) };
    if let Err(status) = prepare::<D>(device, ext, state) {
        // SAFETY: the device got no IRP and is not attached.
        unsafe { teardown::<D>(raw) };
        return Err(status);
    }
    Ok(())
}

/// The part of AddDevice that can fail after the device exists.
fn prepare<D: PnpDevice>(device: NonNull<DEVICE_OBJECT>, ext: &mut Extension<D>, state: *mut D) -> Result<(), Status> {
    let raw = device.as_ptr();
    let pdo = ext.pnp.pdo;
    if !ext.pnp.filter {
        ext.pnp.held = Some(IrpQueue::new()?);
        // SAFETY: a live device of this driver.
        ext.pnp.work_item = unsafe { IoAllocateWorkItem(raw) };
        if ext.pnp.work_item.is_null() {
            return Err(Status::INSUFFICIENT_RESOURCES);
        }
    }
    if let Some(guid) = D::OPTIONS.interface {
        let guid = guid.to_raw();
        // SAFETY: the PDO, a GUID on the stack (copied by the call), no reference string, and
        // the header's string, which receives a pool-allocated name freed at teardown.
        Status::check(unsafe {
            IoRegisterDeviceInterface(pdo, &raw const guid, core::ptr::null_mut(), ext.pnp.interface.get())
        })?;
    }
    // SAFETY: two live devices; ours is not attached to anything yet.
    let lower = unsafe { IoAttachDeviceToDeviceStack(raw, pdo) };
    let lower = NonNull::new(lower).ok_or(Status::NO_SUCH_DEVICE)?;
    ext.pnp.lower = lower.as_ptr();
    let below = lower.as_ptr();
    // SAFETY: the lower device is live while we are attached; its fields are read only.
    let lower_flags = unsafe { (*below).Flags };
    // SAFETY: as above.
    let lower_type = unsafe { (*below).DeviceType };
    // SAFETY: as above.
    let lower_characteristics = unsafe { (*below).Characteristics };
    let io = if ext.pnp.filter {
        lower_flags & (DO_BUFFERED_IO | DO_DIRECT_IO)
    } else {
        match D::OPTIONS.io_method {
            IoMethod::Buffered => DO_BUFFERED_IO,
            IoMethod::Direct => DO_DIRECT_IO,
            IoMethod::Neither => 0,
        }
    };
    // PAGABLE is inherited, and only ever cleared (never set above a device that has it clear).
    let pageable = if D::OPTIONS.power_pageable {
        lower_flags & DO_POWER_PAGABLE
    } else {
        0
    };
    // SAFETY: our own device during AddDevice, before any IRP.
    unsafe { (*raw).Flags |= io | pageable };
    if ext.pnp.filter {
        // SAFETY: as above.
        unsafe { (*raw).DeviceType = lower_type };
        // SAFETY: as above.
        unsafe { (*raw).Characteristics |= lower_characteristics };
    }
    let new = NewDevice {
        device,
        pdo: NonNull::new(pdo).ok_or(Status::INVALID_PARAMETER)?,
        lower,
        state: state.cast_const(),
        _lent: PhantomData,
    };
    let state = D::add_device(&new)?;
    ext.state.write(state);
    ext.pnp.live.store(true, Ordering::SeqCst);
    // SAFETY: as above; the last step of AddDevice (0xC9/0x243).
    unsafe { (*raw).Flags &= !DO_DEVICE_INITIALIZING };
    Ok(())
}

/// Undoes AddDevice: drops the state (if written), frees the interface name, the work item and
/// the hold queue, detaches and deletes the device.
///
/// # Safety
/// A device made by [`add`] for `D` that gets no more IRPs and has no request holding its
/// remove lock.
pub(crate) unsafe fn teardown<D: PnpDevice>(device: PDEVICE_OBJECT) {
    // SAFETY: the caller's contract; nothing else uses the extension any more.
    let ext = unsafe { extension_mut::<D>(device) };
    if ext.pnp.live.swap(false, Ordering::SeqCst) {
        ext.pnp.set_interface(false);
        // SAFETY: written at the end of AddDevice, dropped once (the flag).
        unsafe { ext.state.assume_init_drop() };
    }
    if !ext.pnp.interface.get_mut().Buffer.is_null() {
        // SAFETY: the name IoRegisterDeviceInterface allocated; freed once.
        unsafe { RtlFreeUnicodeString(ext.pnp.interface.get()) };
        ext.pnp.interface.get_mut().Buffer = core::ptr::null_mut();
    }
    if let Some(held) = ext.pnp.held.take() {
        // SAFETY: no spin lock is held on the PnP and unload paths.
        let cx = unsafe { Unlocked::new() };
        held.complete_all(Status::DELETE_PENDING, &cx);
    }
    if !ext.pnp.work_item.is_null() {
        // SAFETY: allocated in AddDevice; nothing queues it any more (no IRP holds the lock).
        unsafe { IoFreeWorkItem(ext.pnp.work_item) };
        ext.pnp.work_item = core::ptr::null_mut();
    }
    if !ext.pnp.lower.is_null() {
        // SAFETY: the device we attached to, live until we detach.
        unsafe { IoDetachDevice(ext.pnp.lower) };
        ext.pnp.lower = core::ptr::null_mut();
    }
    if crate::dropped::used(device) {
        // An IRP dropped at DISPATCH_LEVEL is completed by the device's DPC, which releases its
        // remove lock and then still walks the device's list: it must have returned before the
        // device goes (as unload does for legacy devices).
        // SAFETY: no arguments; PASSIVE_LEVEL (REMOVE and unload run there).
        unsafe { wdm_sys::ntddk::KeFlushQueuedDpcs() };
    }
    // SAFETY: our device, detached, with nothing using it.
    unsafe { IoDeleteDevice(device) };
}

/// Whether a request of `major` needs the hardware (so it waits while the device is stopped).
fn needs_hardware(major: u8) -> bool {
    !matches!(u32::from(major), IRP_MJ_CREATE | IRP_MJ_CLOSE | IRP_MJ_CLEANUP)
}

/// What a function driver does with a request in the device's current state (§4).
enum Treatment {
    Dispatch,
    Hold,
    Fail(Status),
}

fn treatment(pnp: &PnpHeader, major: u8) -> Treatment {
    let handle = matches!(u32::from(major), IRP_MJ_CLOSE | IRP_MJ_CLEANUP);
    match pnp.state() {
        _ if handle => Treatment::Dispatch,
        PnpState::NotStarted => Treatment::Fail(Status::DEVICE_NOT_READY),
        PnpState::RemovePending if u32::from(major) == IRP_MJ_CREATE => Treatment::Fail(Status::DELETE_PENDING),
        PnpState::SurpriseRemoved => Treatment::Fail(Status::NO_SUCH_DEVICE),
        PnpState::Deleted => Treatment::Fail(Status::DELETE_PENDING),
        _ if needs_hardware(major) && pnp.holds_io() => Treatment::Hold,
        _ => Treatment::Dispatch,
    }
}

/// A non-PnP request: held, failed or dispatched as the device's state says (function
/// drivers); dispatched or passed down (filters).
///
/// # Safety
/// The IRP was dispatched to `device` (a device of `D`) and holds an acquisition.
pub(crate) unsafe fn request<D: PnpDevice>(
    device: *mut DEVICE_OBJECT,
    ext: Ext<'_, D>,
    irp: PIRP,
    major: u8,
) -> Dispatched {
    // Counted before the state is read: a state change that this request did not see waits
    // for it (`PnpHeader::quiesce`). Uncounted before the acquisition is released (by the
    // caller), so REMOVE's wait covers the count too.
    ext.pnp.active.fetch_add(1, Ordering::SeqCst);
    let dispatched = if ext.pnp.filter {
        // SAFETY: the caller's contract.
        unsafe { handle::<D>(ext, irp, major) }
    } else {
        match treatment(ext.pnp, major) {
            // SAFETY: the caller's contract.
            Treatment::Dispatch => unsafe { handle::<D>(ext, irp, major) },
            // SAFETY: as above.
            Treatment::Fail(status) => unsafe { complete(irp, status.raw()) },
            // SAFETY: as above.
            Treatment::Hold => unsafe { hold::<D>(device, ext, irp) },
        }
    };
    ext.pnp.active.fetch_sub(1, Ordering::SeqCst);
    dispatched
}

/// Runs the handler for `major` (or, with none, fails the request or passes it down).
///
/// # Safety
/// As [`request`].
unsafe fn handle<D: PnpDevice>(ext: Ext<'_, D>, irp: PIRP, major: u8) -> Dispatched {
    let Some(handler) = D::DISPATCH.handler(major) else {
        return if ext.pnp.filter {
            // SAFETY: the caller's contract.
            unsafe { pass_down(ext.pnp.lower, irp) }
        } else {
            // SAFETY: as above.
            unsafe { complete(irp, Status::INVALID_DEVICE_REQUEST.raw()) }
        };
    };
    // SAFETY: the state is written (the device gets IRPs only after AddDevice's hook succeeded)
    // and dropped only at REMOVE, after every acquisition is released; shared while IRPs flow.
    let state = unsafe { ext.state.assume_init_ref() };
    // SAFETY: the I/O manager never dispatches a NULL IRP.
    let raw = unsafe { NonNull::new_unchecked(irp) };
    // SAFETY: a live IRP the dispatch routine owns, given to the handler for the call.
    let owned = unsafe { Irp::from_raw(raw) };
    // SAFETY: dispatch routines and the PnP paths that re-dispatch held requests hold no spin
    // lock.
    let mut cx = unsafe { Unlocked::new() };
    let outcome = handler(state, owned, &mut cx);
    let status = outcome.returned();
    if matches!(outcome, Outcome::Pending(_)) {
        // A pended IRP keeps its acquisition until it completes (PendingIrp) or its completion
        // routine passes it up (forward_with).
        Dispatched::kept(status)
    } else {
        // Completed here, or forwarded (IoCallDriver has returned): the IRP no longer needs
        // the device.
        Dispatched::done(status)
    }
}

/// Holds a request until the device can take it (started and in D0).
///
/// # Safety
/// As [`request`].
unsafe fn hold<D: PnpDevice>(device: *mut DEVICE_OBJECT, ext: Ext<'_, D>, irp: PIRP) -> Dispatched {
    let Some(held) = ext.pnp.held.as_ref() else {
        // SAFETY: the caller's contract.
        return unsafe { complete(irp, Status::DEVICE_NOT_READY.raw()) };
    };
    // SAFETY: the caller's contract: a live IRP dispatched to `device`.
    if unsafe { caller_context_only(device, irp) } {
        // Its buffers are user addresses valid only in the caller's thread, and a held request
        // is dispatched later from another one (the PnP thread, a power work item): it is not
        // held but failed, and the caller may retry once the device is back.
        // SAFETY: as above.
        return unsafe { complete(irp, Status::DEVICE_NOT_READY.raw()) };
    }
    // SAFETY: the I/O manager never dispatches a NULL IRP.
    let raw = unsafe { NonNull::new_unchecked(irp) };
    // SAFETY: a live IRP the dispatch routine owns.
    let owned = unsafe { Irp::from_raw(raw) };
    let (pending, _pended) = owned.mark_pending();
    // SAFETY: a dispatch routine holds no spin lock.
    let cx = unsafe { Unlocked::new() };
    held.insert(pending, &cx);
    // The state may have changed since it was read (a restart draining the queue before this
    // insertion): drain again, so nothing waits for a drain that already happened.
    if !ext.pnp.holds_io() {
        drain::<D>(device, ext);
    }
    Dispatched::kept(wdm_sys::STATUS_PENDING)
}

/// Whether a request's buffers are only the caller's user addresses (METHOD_NEITHER IOCTLs,
/// reads and writes of a device with neither buffered nor direct I/O).
///
/// # Safety
/// A live IRP the caller owns, dispatched to the live `device`.
unsafe fn caller_context_only(device: *mut DEVICE_OBJECT, irp: PIRP) -> bool {
    // SAFETY: the caller's contract.
    let stack = unsafe { location(irp) };
    match u32::from(stack.MajorFunction) {
        wdm_sys::IRP_MJ_DEVICE_CONTROL | wdm_sys::IRP_MJ_INTERNAL_DEVICE_CONTROL => {
            // SAFETY: an IOCTL location's parameters.
            let code = unsafe { stack.Parameters.DeviceIoControl.IoControlCode };
            code & 3 == wdm_sys::METHOD_NEITHER
        }
        wdm_sys::IRP_MJ_READ | wdm_sys::IRP_MJ_WRITE => {
            // SAFETY: our live device; its flags are set at AddDevice.
            let flags = unsafe { (*device).Flags };
            flags & (DO_BUFFERED_IO | DO_DIRECT_IO) == 0
        }
        _ => false,
    }
}

/// Dispatches the held requests, oldest first, while the device can take them. The caller
/// keeps the device alive (it handles an IRP that holds the remove lock).
pub(crate) fn drain<D: PnpDevice>(device: *mut DEVICE_OBJECT, ext: Ext<'_, D>) {
    let Some(held) = ext.pnp.held.as_ref() else {
        return;
    };
    // SAFETY: the PnP and power paths that drain hold no spin lock.
    let cx = unsafe { Unlocked::new() };
    while !ext.pnp.holds_io() {
        let Some(next) = held.remove_next(&cx) else {
            return;
        };
        let irp = next.into_raw();
        let major = crate::irp::major_of(irp);
        // SAFETY: a held IRP of this device, still holding the acquisition its dispatch took
        // (pended IRPs keep it), owned again.
        let dispatched = unsafe { request::<D>(device, ext, irp.as_ptr(), major) };
        if dispatched.release {
            // SAFETY: that acquisition, released once; the device stays alive through the
            // caller's own IRP.
            unsafe { IoReleaseRemoveLock(ext.pnp.lock(), irp.as_ptr().cast()) };
        }
    }
}

/// The current stack location of an IRP the caller owns.
///
/// # Safety
/// A live IRP the caller owns.
pub(crate) unsafe fn location<'a>(irp: PIRP) -> &'a wdm_sys::IO_STACK_LOCATION {
    // SAFETY: the caller's contract.
    let location = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: as above: the current location is valid while the IRP is owned.
    unsafe { &*location }
}
