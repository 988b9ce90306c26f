//! The test-facing API: load a driver, open its devices, send requests, unload, and check that
//! nothing leaked and nothing was reported.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::time::Duration;

use wdm_sys::{
    DO_DEVICE_INITIALIZING, DRIVER_OBJECT, FILE_OBJECT, IO_TYPE_DRIVER, IO_TYPE_FILE, IRP_MJ_CLEANUP, IRP_MJ_CLOSE,
    IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL, IRP_MJ_READ, IRP_MJ_WRITE, NT_SUCCESS, NTSTATUS, PDEVICE_OBJECT,
    PDRIVER_OBJECT, PIRP, PUNICODE_STRING, STATUS_NO_SUCH_DEVICE, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_PENDING,
};

use crate::debug::DebugLine;
use crate::irp::{IofCallDriver, Waiter, invalid_device_request};
use crate::kernel::{Bound, State, as_driver, lock};
use crate::object::{DriverRecord, OwnedUnicode, RawBox};
use crate::pool::Allocation;
use crate::report::{BugCheck, Report, Rule};
use crate::request::{Buffers, IoResult, Output};
use crate::trace::TraceEvent;

/// A driver's entry point, as the simulator calls it.
pub type DriverEntry = unsafe extern "C-unwind" fn(PDRIVER_OBJECT, PUNICODE_STRING) -> NTSTATUS;

/// How long a synchronous request may stay pending before the harness calls it hung.
const HANG: Duration = Duration::from_secs(10);

/// One simulated machine.
///
/// ```
/// use wdm_sim::Kernel;
/// let kernel = Kernel::new();
/// assert!(kernel.open(r"\\.\Nothing").is_err());
/// kernel.assert_clean();
/// ```
#[derive(Clone)]
pub struct Kernel {
    pub(crate) state: Arc<State>,
}

impl Default for Kernel {
    fn default() -> Self {
        Self::new()
    }
}

impl Kernel {
    /// A fresh machine: no drivers, no devices, empty pool.
    pub fn new() -> Self {
        let state = Arc::new(State::new());
        state.system.attach(Arc::downgrade(&state));
        Self { state }
    }

    /// Waits until no DPC or work item is queued or running and no one-shot timer is set
    /// (periodic timers do not count). False if that did not happen within `timeout`.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.state.system.wait_idle(timeout)
    }

    /// Runs `f` on this thread as code running on the simulated machine (at PASSIVE_LEVEL), so
    /// it can call kernel routines directly. A bug check inside becomes a panic with its report.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        match self.run_catching(f) {
            Ok(r) => r,
            Err(bug) => panic!("the simulated machine bug-checked:\n  {bug}"),
        }
    }

    /// As [`run`](Self::run), returning the bug check instead of panicking.
    pub(crate) fn run_catching<R>(&self, f: impl FnOnce() -> R) -> Result<R, BugCheck> {
        self.check_alive();
        let _bound = Bound::new(&self.state);
        crate::irql::set(wdm_sys::PASSIVE_LEVEL as u8);
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => Ok(r),
            Err(payload) => {
                // The unwind skipped the releases of whatever locks the driver still held (its
                // guards released theirs on the way): this processor holds none now.
                crate::spinlock::clear_held();
                match payload.downcast::<BugCheck>() {
                    Ok(bug) => Err(*bug),
                    Err(other) => resume_unwind(other),
                }
            }
        }
    }

    /// Runs `f` and returns the bug check it caused, if any, instead of failing the test.
    /// After a bug check the machine is stopped: only its reports can still be read.
    ///
    /// The bug check unwinds through the driver, so its guards' destructors run and call back
    /// into the stopped machine; nothing they do is reported, and the bug check returned is the
    /// first one, as is every later one this machine's processors raise.
    ///
    /// ```
    /// use wdm_sim::{Kernel, Rule};
    /// use wdm_sys::ntddk::{KeAcquireSpinLockRaiseToDpc, KeReleaseSpinLock};
    /// use wdm_sys::{KIRQL, KSPIN_LOCK, PKSPIN_LOCK};
    ///
    /// // A guard that releases a spin lock when dropped.
    /// struct Guard(PKSPIN_LOCK, KIRQL);
    /// impl Drop for Guard {
    ///     fn drop(&mut self) {
    ///         // SAFETY: made right after acquiring the lock, which returned the IRQL kept.
    ///         unsafe { KeReleaseSpinLock(self.0, self.1) };
    ///     }
    /// }
    ///
    /// let kernel = Kernel::new();
    /// let mut word: KSPIN_LOCK = 0;
    /// let lock: PKSPIN_LOCK = &mut word;
    /// let bug = kernel.catch(|| {
    ///     kernel.run(|| {
    ///         // SAFETY: an initialized lock; taking it twice is the mistake shown.
    ///         let _guard = Guard(lock, unsafe { KeAcquireSpinLockRaiseToDpc(lock) });
    ///         // SAFETY: as above.
    ///         unsafe { KeAcquireSpinLockRaiseToDpc(lock) }
    ///     })
    /// });
    /// assert_eq!(bug.unwrap_err().0.rule, Rule::SpinLockAlreadyOwned);
    /// // The guard released the lock during the unwind, and added no report.
    /// assert_eq!((kernel.reports().len(), word), (1, 0));
    /// ```
    pub fn catch<R>(&self, f: impl FnOnce() -> R) -> Result<R, BugCheck> {
        let result = catch_unwind(AssertUnwindSafe(f));
        if let Some(report) = lock(&self.state.crash).clone() {
            return Err(BugCheck(report));
        }
        Ok(result.unwrap_or_else(|p| resume_unwind(p)))
    }

    fn check_alive(&self) {
        if let Some(report) = lock(&self.state.crash).as_ref() {
            panic!("the simulated machine has already bug-checked:\n  {report}");
        }
    }

    /// Loads a driver: builds its driver object and runs its entry point at PASSIVE_LEVEL.
    /// On failure the I/O manager discards the driver object, and what the driver left behind
    /// is reported as leaked.
    pub fn load(&self, name: &str, entry: DriverEntry) -> Result<Driver<'_>, NTSTATUS> {
        let object = self.create_driver_object(name, entry);
        let registry = OwnedUnicode::new(&format!(
            "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\{name}"
        ));
        let status = self.run(|| {
            // SAFETY: a fully initialized driver object and a registry path that outlives the call.
            as_driver(object as usize, || unsafe {
                entry(object, (&raw const registry.string).cast_mut())
            })
        });
        let driver = Driver {
            kernel: self,
            object,
            name: name.to_owned(),
        };
        if !NT_SUCCESS(status) {
            driver.forget("DriverEntry failed");
            return Err(status);
        }
        // The I/O manager clears DO_DEVICE_INITIALIZING on devices created in DriverEntry.
        let objects = lock(&self.state.objects);
        for device in objects.devices_of(object as usize) {
            // SAFETY: a live device object of this driver.
            unsafe { (*(device as PDEVICE_OBJECT)).Flags &= !DO_DEVICE_INITIALIZING };
        }
        Ok(driver)
    }

    pub(crate) fn create_driver_object(&self, name: &str, entry: DriverEntry) -> PDRIVER_OBJECT {
        let driver_name = OwnedUnicode::new(&format!("\\Driver\\{name}"));
        // Kept in the record: the extension's ServiceKeyName points into it.
        let service_key = OwnedUnicode::new(name);
        // Raw blocks, not Boxes: the record moves into the table after the addresses are out.
        let extension = RawBox::new(wdm_sys::DRIVER_EXTENSION {
            ServiceKeyName: service_key.string,
            ..Default::default()
        });
        let object = RawBox::new(DRIVER_OBJECT {
            Type: IO_TYPE_DRIVER as i16,
            Size: size_of::<DRIVER_OBJECT>() as i16,
            DriverExtension: extension.as_ptr(),
            DriverName: driver_name.string,
            DriverInit: Some(entry),
            MajorFunction: [Some(invalid_device_request); 28],
            ..Default::default()
        });
        let ptr: PDRIVER_OBJECT = object.as_ptr();
        // SAFETY: the fresh extension block; nothing else has its address yet but the object.
        unsafe { (*extension.as_ptr()).DriverObject = ptr };
        lock(&self.state.objects).drivers.insert(
            ptr as usize,
            DriverRecord {
                _object: object,
                _extension: extension,
                _name: driver_name,
                _service_key: service_key,
                client_extensions: Vec::new(),
            },
        );
        ptr
    }

    /// Opens a device by name: `\\.\Name` or `\DosDevices\Name` (through its symbolic link)
    /// or `\Device\Name`. Sends IRP_MJ_CREATE to the top of the device's stack.
    ///
    /// A PnP device opens through its enabled device interfaces (`\\?\ROOT#...#{guid}`, from
    /// [`device_interfaces`](Self::device_interfaces)) or its PDO's name, as the PnP manager
    /// allows (see [`crate::NodeState`]).
    pub fn open(&self, path: &str) -> Result<File<'_>, NTSTATUS> {
        if let Some(opened) = crate::pnp::open_path(self, path) {
            return opened;
        }
        let device = {
            let objects = lock(&self.state.objects);
            objects.resolve(path).ok_or(STATUS_OBJECT_NAME_NOT_FOUND)? as PDEVICE_OBJECT
        };
        self.open_object(device, None, None)
    }

    /// Opens the device object `device` (the request goes to the top of its stack); `node`: the
    /// PnP devnode whose handle count it adds to; `file_name`: the file object's FileName (the
    /// path after the device's name).
    pub(crate) fn open_object(
        &self,
        device: PDEVICE_OBJECT,
        node: Option<usize>,
        file_name: Option<&str>,
    ) -> Result<File<'_>, NTSTATUS> {
        {
            let objects = lock(&self.state.objects);
            let record = objects.devices.get(&(device as usize)).ok_or(STATUS_NO_SUCH_DEVICE)?;
            // SAFETY: a live device object.
            let initializing = unsafe { (*device).Flags } & DO_DEVICE_INITIALIZING != 0;
            if record.delete_pending || initializing {
                return Err(STATUS_NO_SUCH_DEVICE);
            }
        }
        let file_name = file_name.map(OwnedUnicode::new);
        let file = RawBox::new(FILE_OBJECT {
            Type: IO_TYPE_FILE as i16,
            Size: size_of::<FILE_OBJECT>() as i16,
            DeviceObject: device,
            FileName: file_name.as_ref().map_or_else(Default::default, |n| n.string),
            ..Default::default()
        });
        let mut file = File {
            kernel: self,
            object: file,
            device,
            closed: false,
            node,
            _file_name: file_name,
        };
        lock(&self.state.objects)
            .devices
            .get_mut(&(device as usize))
            .expect("resolved above")
            .open_files += 1;
        if let Some(i) = node {
            lock(&self.state.pnp).nodes[i].open += 1;
        }
        let done = file.send(IRP_MJ_CREATE);
        if NT_SUCCESS(done.status) {
            Ok(file)
        } else {
            file.release();
            Err(done.status)
        }
    }

    /// Turns Driver Verifier's I/O verification off (the 0xC9 checks), to see what Windows
    /// does without it: for example, completing an IRP with its cancel routine set goes
    /// unnoticed until IoCancelIrp finds the stale routine (0x48).
    pub fn without_io_verification(&self) -> &Self {
        self.state
            .io_verification
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self
    }

    /// How long IoReleaseRemoveLockAndWait may wait before the simulator reports
    /// [`Rule::RemoveLockWaitHang`] (Windows waits for ever): 10 s unless set.
    ///
    /// ```
    /// let kernel = wdm_sim::Kernel::new();
    /// kernel.remove_lock_wait_limit(std::time::Duration::from_millis(200));
    /// ```
    pub fn remove_lock_wait_limit(&self, limit: Duration) -> &Self {
        self.state
            .remove_lock_wait_ms
            .store(limit.as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
        self
    }

    /// Also reports what Windows allows but Wine 8 does not, so a driver meant to run end to end
    /// under Wine can be checked here first: setting or cancelling a timer from its own DPC
    /// ([`Rule::WineTimerSelfWait`]).
    pub fn wine_checks(&self) -> &Self {
        self.state.wine_checks.store(true, std::sync::atomic::Ordering::Relaxed);
        self
    }

    /// Low-resources simulation, as Driver Verifier does it: after `n` more allocations
    /// succeed, the next one fails, once: ExAllocatePoolWithTag, ExAllocatePool2 and
    /// IoAllocateWorkItem return NULL, IoCreateDevice and IoCreateSymbolicLink
    /// STATUS_INSUFFICIENT_RESOURCES. A driver
    /// must turn that into an error status, never a crash; [`failed_allocations`](Self::failed_allocations)
    /// tells whether the failure was reached.
    ///
    /// ```
    /// let kernel = wdm_sim::Kernel::new();
    /// kernel.fail_allocation(0); // the very next allocation fails
    /// let failed = kernel.run(|| unsafe { wdm_sys::ntddk::ExAllocatePoolWithTag(wdm_sys::NON_PAGED_POOL_NX, 8, 0) });
    /// assert!(failed.is_null());
    /// assert_eq!(kernel.failed_allocations(), 1);
    /// ```
    pub fn fail_allocation(&self, n: u64) -> &Self {
        lock(&self.state.pool).fail_after = Some(n);
        self
    }

    /// How many allocations [`fail_allocation`](Self::fail_allocation) has failed.
    pub fn failed_allocations(&self) -> u64 {
        lock(&self.state.pool).failed
    }

    /// Low-resources sweep of a driver's DriverEntry: loads it on a fresh machine once per
    /// allocation DriverEntry makes (see [`fail_allocation`](Self::fail_allocation)), with that
    /// allocation failing, and checks every such load: no bug check, and either an error status
    /// or (a driver that copes) a load that unloads cleanly; nothing left behind (pool, devices,
    /// links) and no rule broken. Then loads it with nothing failing, unloads it and checks that
    /// machine too. Returns the number of allocation points tried.
    ///
    /// ```
    /// use wdm_sys::ntddk::{ExAllocatePoolWithTag, ExFreePoolWithTag};
    /// use wdm_sys::{NON_PAGED_POOL_NX, NTSTATUS, PDRIVER_OBJECT, PUNICODE_STRING, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS};
    ///
    /// // A raw driver that allocates one block in DriverEntry and frees it at unload.
    /// static mut BLOCK: usize = 0;
    ///
    /// unsafe extern "C-unwind" fn unload(_driver: PDRIVER_OBJECT) {
    ///     unsafe { ExFreePoolWithTag(BLOCK as _, 0x6b636f42) };
    /// }
    ///
    /// unsafe extern "C-unwind" fn entry(driver: PDRIVER_OBJECT, _path: PUNICODE_STRING) -> NTSTATUS {
    ///     let block = unsafe { ExAllocatePoolWithTag(NON_PAGED_POOL_NX, 64, 0x6b636f42) };
    ///     if block.is_null() {
    ///         return STATUS_INSUFFICIENT_RESOURCES; // without this check the sweep reports the crash
    ///     }
    ///     unsafe { BLOCK = block as usize };
    ///     unsafe { (*driver).DriverUnload = Some(unload) };
    ///     STATUS_SUCCESS
    /// }
    ///
    /// assert_eq!(wdm_sim::Kernel::low_resources_sweep("block", entry), Ok(1));
    /// ```
    pub fn low_resources_sweep(name: &str, entry: DriverEntry) -> Result<u64, String> {
        for point in 0.. {
            let kernel = Kernel::new();
            kernel.fail_allocation(point);
            let loaded = kernel
                .catch(|| kernel.load(name, entry).map(Driver::unload))
                .map_err(|b| format!("allocation {point} failing: bug check {b}"))?;
            let reached = kernel.failed_allocations() > 0;
            if let (false, Err(status)) = (reached, loaded) {
                return Err(format!(
                    "DriverEntry failed with {status:#x} with no allocation failing"
                ));
            }
            if let Some(detail) = kernel.unclean() {
                return Err(format!("allocation {point} failing: {detail}"));
            }
            if !reached {
                return Ok(point);
            }
        }
        unreachable!("the sweep ends when an allocation point is not reached")
    }

    /// Turns the IRP lifecycle log on (it is off by default: it costs time on every IRP).
    pub fn trace(&self) -> &Self {
        self.state.trace.enable();
        self
    }

    /// The lifecycle log so far.
    pub fn trace_events(&self) -> Vec<TraceEvent> {
        self.state.trace.events()
    }

    /// The lifecycle log as a readable timeline, one event a line.
    pub fn timeline(&self) -> String {
        crate::trace::timeline(&self.state.trace.events())
    }

    /// The lifecycle log as Chrome trace-event JSON (opens in Perfetto or chrome://tracing).
    pub fn chrome_trace(&self) -> String {
        crate::trace::chrome_json(&self.state.trace.events())
    }

    /// Runs `f` on a new thread that acts as another processor of this machine (at
    /// PASSIVE_LEVEL), so dispatch, cancellation and completion race as on a multiprocessor.
    /// A bug check on that thread is re-raised by `join`.
    pub fn spawn<'scope, R: Send + 'scope>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        f: impl FnOnce() -> R + Send + 'scope,
    ) -> std::thread::ScopedJoinHandle<'scope, R> {
        scope.spawn(move || self.run(f))
    }

    /// Every violation reported so far, in order.
    pub fn reports(&self) -> Vec<Report> {
        lock(&self.state.reports).clone()
    }

    /// Removes and returns the reports collected so far (to assert on expected warnings and
    /// then check that nothing else was reported).
    pub fn take_reports(&self) -> Vec<Report> {
        std::mem::take(&mut *lock(&self.state.reports))
    }

    /// Whether `rule` was reported.
    pub fn was_reported(&self, rule: Rule) -> bool {
        lock(&self.state.reports).iter().any(|r| r.rule == rule)
    }

    /// What drivers printed with DbgPrint/DbgPrintEx.
    pub fn debug_output(&self) -> Vec<DebugLine> {
        lock(&self.state.debug).clone()
    }

    /// Live pool allocations.
    pub fn pool(&self) -> Vec<Allocation> {
        lock(&self.state.pool).live()
    }

    /// Panics, listing what is wrong, unless no violation was reported and no pool is
    /// allocated.
    pub fn assert_clean(&self) {
        if let Some(msg) = self.unclean() {
            panic!("{msg}");
        }
    }

    /// [`assert_clean`](Self::assert_clean) as a result, for scenarios that report failures
    /// as values (the schedule explorer's): Err with every report and pool block left.
    ///
    /// ```
    /// let kernel = wdm_sim::Kernel::new();
    /// assert!(kernel.check_clean().is_ok());
    /// ```
    pub fn check_clean(&self) -> Result<(), String> {
        self.unclean().map_or(Ok(()), Err)
    }

    /// What [`assert_clean`](Self::assert_clean) would complain about, if anything.
    fn unclean(&self) -> Option<String> {
        let reports = self.reports();
        let pool = self.pool();
        if reports.is_empty() && pool.is_empty() {
            return None;
        }
        let mut msg = String::from("the simulated machine is not clean:\n");
        for r in &reports {
            msg.push_str(&format!("  {r}\n"));
        }
        for a in &pool {
            msg.push_str(&format!("  pool {:#x}: {} bytes, tag '{}'\n", a.address, a.size, a.tag));
        }
        Some(msg)
    }
}

/// A dummy entry point, for the driver objects the simulator makes itself (the root bus).
pub(crate) unsafe extern "C-unwind" fn no_entry(_driver: PDRIVER_OBJECT, _path: PUNICODE_STRING) -> NTSTATUS {
    wdm_sys::STATUS_SUCCESS
}

/// A loaded driver.
pub struct Driver<'k> {
    pub(crate) kernel: &'k Kernel,
    pub(crate) object: PDRIVER_OBJECT,
    pub(crate) name: String,
}

impl Driver<'_> {
    /// Its driver object.
    pub fn object(&self) -> PDRIVER_OBJECT {
        self.object
    }

    /// The service name it was loaded as.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names of its device objects (unnamed ones are left out).
    pub fn device_names(&self) -> Vec<String> {
        let objects = lock(&self.kernel.state.objects);
        let mut names: Vec<String> = objects
            .devices_of(self.object as usize)
            .into_iter()
            .filter_map(|d| objects.devices[&d].name.clone())
            .collect();
        names.sort();
        names
    }

    /// Unloads the driver: calls its DriverUnload routine, then reports whatever it left
    /// behind (device objects, symbolic links, pool).
    ///
    /// # Panics
    /// If the driver has no unload routine: Windows cannot unload such a driver either.
    pub fn unload(self) {
        // SAFETY: the driver object lives until `forget`.
        let unload = unsafe { (*self.object).DriverUnload };
        let unload = unload.unwrap_or_else(|| {
            panic!(
                "driver {} has no DriverUnload routine: it cannot be unloaded",
                self.name
            )
        });
        let object = self.object;
        // SAFETY: the unload routine gets its own driver object, as on Windows.
        self.kernel
            .run(|| as_driver(object as usize, || unsafe { unload(object) }));
        self.forget("unload");
    }

    /// Checks what the driver left behind, and discards its driver object.
    fn forget(self, phase: &'static str) {
        let kernel = self.kernel;
        let driver = self.object as usize;
        let k = &kernel.state;
        let _bound = Bound::new(k);
        crate::pnp::wmi::check_unload(k, driver);
        let (devices, links) = {
            let objects = lock(&k.objects);
            (objects.devices_of(driver), objects.links_of(driver))
        };
        let live_devices: Vec<usize> = devices
            .into_iter()
            .filter(|d| !lock(&k.objects).devices[d].delete_pending)
            .collect();
        if !live_devices.is_empty() {
            k.report(
                Rule::DeviceLeak,
                phase,
                None,
                [driver, live_devices.len(), 0, 0],
                format!("{}: {} device object(s) not deleted", self.name, live_devices.len()),
            );
        }
        if !links.is_empty() {
            let names: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
            k.report(
                Rule::SymbolicLinkLeak,
                phase,
                None,
                [driver, links.len(), 0, 0],
                format!("{}: symbolic link(s) not deleted: {}", self.name, names.join(", ")),
            );
        }
        let (timers, dpcs, work) = k.system.pending_for(driver);
        if timers + dpcs + work > 0 {
            k.report(
                Rule::PendingOperationsAtUnload,
                phase,
                None,
                [driver, timers, dpcs, work],
                format!(
                    "{}: unloaded with {timers} timer(s) set, {dpcs} DPC(s) and {work} work item(s) queued",
                    self.name
                ),
            );
        }
        let mdls = k.mdls.held_by(driver);
        if mdls > 0 {
            k.report(
                Rule::PoolLeak,
                phase,
                None,
                [0x62, driver, mdls, 0],
                format!("{}: {mdls} MDL(s) from IoAllocateMdl not freed", self.name),
            );
        }
        let held = lock(&k.pool).held_by(driver);
        if !held.is_empty() {
            let bytes: usize = held.iter().map(|a| a.size).sum();
            let tags: Vec<String> = held.iter().map(|a| format!("'{}' {} bytes", a.tag, a.size)).collect();
            k.report(
                Rule::PoolLeak,
                phase,
                None,
                [0x62, driver, held.len(), bytes],
                format!(
                    "{}: {} allocation(s), {bytes} bytes, still allocated: {}",
                    self.name,
                    held.len(),
                    tags.join(", ")
                ),
            );
        }
        let mut objects = lock(&k.objects);
        for d in live_devices {
            objects.free_device(d);
        }
        if let Some(mut record) = objects.drivers.remove(&driver) {
            for (_, block, layout) in record.client_extensions.drain(..) {
                // SAFETY: allocated by IoAllocateDriverObjectExtension with this layout.
                unsafe { std::alloc::dealloc(block as *mut u8, layout) };
            }
        }
    }
}

/// An open file object on a device, as a handle from CreateFile.
pub struct File<'k> {
    kernel: &'k Kernel,
    /// A raw block: drivers write it (FsContext) through the address requests carry.
    object: RawBox<FILE_OBJECT>,
    device: PDEVICE_OBJECT,
    closed: bool,
    /// The PnP devnode it was opened on ([`Kernel::open_device`]).
    node: Option<usize>,
    /// The buffer of the file object's FileName.
    _file_name: Option<Box<OwnedUnicode>>,
}

// SAFETY: the file object is owned by this handle and only handed to the simulated kernel,
// which serializes access to it like the I/O manager does; tests may issue requests on a file
// from several threads.
unsafe impl Send for File<'_> {}
// SAFETY: as above: requests only pass the file object's address to the kernel.
unsafe impl Sync for File<'_> {}

/// A request that has been sent and may not have completed yet (an overlapped request).
pub struct Pending<'k> {
    kernel: &'k Kernel,
    irp: PIRP,
    waiter: Arc<Waiter>,
    output: Output,
    /// What the dispatch routine returned.
    pub returned: NTSTATUS,
}

// SAFETY: the IRP pointer is only used to cancel through the kernel, which checks it.
unsafe impl Send for Pending<'_> {}
// SAFETY: as above.
unsafe impl Sync for Pending<'_> {}

impl Pending<'_> {
    /// The request's IRP (valid while it has not completed, and readable for a while after).
    pub fn irp(&self) -> PIRP {
        self.irp
    }

    /// Whether the request has completed.
    pub fn is_done(&self) -> bool {
        self.waiter.get().is_some()
    }

    /// Cancels the request as CancelIoEx does: IoCancelIrp on its IRP if it has not completed.
    /// Returns IoCancelIrp's result (whether a cancel routine was called).
    pub fn cancel(&self) -> bool {
        if self.is_done() {
            return false;
        }
        let irp = self.irp;
        self.kernel
            .run(|| crate::cancel::cancel_request(&self.kernel.state, irp))
    }

    /// Waits up to `timeout` for completion. A request that was cancelled and does not complete
    /// in time is reported (0xC4/0x135: the driver never completes cancelled IRPs).
    pub fn wait_for(&self, timeout: Duration) -> Option<IoResult> {
        let done = self.waiter.wait(timeout);
        match done {
            Some(c) => Some(IoResult {
                status: c.status,
                information: c.information,
                output: lock(&self.output).take().unwrap_or_default(),
            }),
            None => {
                // Quarantine keeps the IRP readable even if it completes meanwhile.
                let cancelled = crate::irp::sim(self.irp).is_some() && crate::irp::cancel_flag(self.irp);
                if cancelled {
                    let _bound = Bound::new(&self.kernel.state);
                    self.kernel.state.report(
                        Rule::CancelledNotCompleted,
                        "I/O manager",
                        Some(self.irp as usize),
                        [0x135, self.irp as usize, 0, 0],
                        format!("a cancelled IRP was not completed within {timeout:?}"),
                    );
                }
                None
            }
        }
    }

    /// Waits for completion (10 s at most; a request still pending then fails the test).
    pub fn wait(self) -> IoResult {
        self.wait_for(HANG)
            .unwrap_or_else(|| panic!("request IRP {:p} did not complete within {HANG:?}", self.irp))
    }
}

impl<'k> File<'k> {
    /// Its file object.
    pub fn object(&mut self) -> *mut FILE_OBJECT {
        self.object.as_ptr()
    }

    /// Sends a request and returns without waiting for it to complete.
    pub fn start(&self, major: u32, ioctl: u32, buffers: Buffers) -> Pending<'k> {
        self.start_patched(major, ioctl, buffers, |_| {})
    }

    /// A METHOD_NEITHER DeviceIoControl whose buffer addresses are whatever the caller claims
    /// (a malicious or buggy caller): `input` and `output` are (address, length) pairs that
    /// need not name memory at all. The driver must not fault or bug-check on them.
    pub fn start_ioctl_at(&self, code: u32, input: (usize, usize), output: (usize, usize)) -> Pending<'k> {
        self.start_patched(IRP_MJ_DEVICE_CONTROL, code, Buffers::default(), |irp| {
            // SAFETY: a fresh IRP with its next location set up; only addresses and lengths
            // change.
            let next = unsafe { crate::irp::next_location(irp) };
            // SAFETY: writing the DeviceIoControl member of the parameter union.
            let p = unsafe { &mut next.Parameters.DeviceIoControl };
            p.Type3InputBuffer = input.0 as *mut _;
            p.InputBufferLength = input.1 as u32;
            p.OutputBufferLength = output.1 as u32;
            // SAFETY: as above.
            unsafe { (*irp).UserBuffer = output.0 as *mut _ };
        })
    }

    fn start_patched(&self, major: u32, ioctl: u32, buffers: Buffers, patch: impl FnOnce(PIRP)) -> Pending<'k> {
        let kernel = self.kernel;
        let file = self.object.as_ptr();
        let device = self.device;
        let (returned, irp, waiter, output) = kernel.run(|| {
            // SAFETY: the device is live while a file is open on it, and the file object is ours.
            let (irp, top, waiter, output) =
                unsafe { crate::request::build(&kernel.state, device, file, major, ioctl, buffers) };
            patch(irp);
            // SAFETY: a fresh IRP with its next location set up for `top`.
            let returned = unsafe { IofCallDriver(top, irp) };
            if returned == STATUS_PENDING {
                crate::trace::irp(&kernel.state, irp, crate::trace::Event::Pended);
            }
            (returned, irp, waiter, output)
        });
        Pending {
            kernel,
            irp,
            waiter,
            output,
            returned,
        }
    }

    /// Sends a request and waits for it (10 s at most).
    pub fn call(&self, major: u32, ioctl: u32, buffers: Buffers) -> IoResult {
        self.start(major, ioctl, buffers).wait()
    }

    /// Sends a request with no parameters (major function `major`, e.g. `IRP_MJ_FLUSH_BUFFERS`)
    /// and waits for its completion.
    pub fn send(&self, major: u32) -> IoResult {
        self.call(major, 0, Buffers::default())
    }

    /// ReadFile of `len` bytes.
    pub fn read(&self, len: usize) -> IoResult {
        self.call(
            IRP_MJ_READ,
            0,
            Buffers {
                input: Vec::new(),
                output: vec![0; len],
            },
        )
    }

    /// WriteFile of `data`.
    pub fn write(&self, data: &[u8]) -> IoResult {
        self.call(
            IRP_MJ_WRITE,
            0,
            Buffers {
                input: data.to_vec(),
                output: Vec::new(),
            },
        )
    }

    /// DeviceIoControl with `input` and an output buffer of `output_len` bytes.
    pub fn ioctl(&self, code: u32, input: &[u8], output_len: usize) -> IoResult {
        self.call(
            IRP_MJ_DEVICE_CONTROL,
            code,
            Buffers {
                input: input.to_vec(),
                output: vec![0; output_len],
            },
        )
    }

    /// An overlapped ReadFile: returns at once; see [`Pending`].
    pub fn start_read(&self, len: usize) -> Pending<'k> {
        self.start(
            IRP_MJ_READ,
            0,
            Buffers {
                input: Vec::new(),
                output: vec![0; len],
            },
        )
    }

    /// An overlapped WriteFile.
    pub fn start_write(&self, data: &[u8]) -> Pending<'k> {
        self.start(
            IRP_MJ_WRITE,
            0,
            Buffers {
                input: data.to_vec(),
                output: Vec::new(),
            },
        )
    }

    /// An overlapped DeviceIoControl.
    pub fn start_ioctl(&self, code: u32, input: &[u8], output_len: usize) -> Pending<'k> {
        self.start(
            IRP_MJ_DEVICE_CONTROL,
            code,
            Buffers {
                input: input.to_vec(),
                output: vec![0; output_len],
            },
        )
    }

    /// Closes the handle: IRP_MJ_CLEANUP, then IRP_MJ_CLOSE, as Windows does when the last
    /// handle goes away.
    pub fn close(mut self) {
        self.close_inner();
    }

    fn close_inner(&mut self) {
        if self.closed {
            return;
        }
        self.send(IRP_MJ_CLEANUP);
        self.send(IRP_MJ_CLOSE);
        self.release();
    }

    fn release(&mut self) {
        self.closed = true;
        {
            let mut objects = lock(&self.kernel.state.objects);
            if let Some(record) = objects.devices.get_mut(&(self.device as usize)) {
                record.open_files -= 1;
                // SAFETY: the record's device is live until freed here; a field read.
                let attached = !unsafe { (*self.device).AttachedDevice }.is_null();
                if record.open_files == 0 && record.delete_pending && !attached {
                    objects.free_device(self.device as usize);
                }
            }
        }
        if let Some(i) = self.node {
            let last = {
                let mut pnp = lock(&self.kernel.state.pnp);
                let node = &mut pnp.nodes[i];
                node.open -= 1;
                node.open == 0 && node.state == crate::pnp::NodeState::SurpriseRemoved
            };
            if last {
                // The last handle on a surprise-removed stack: now REMOVE (§2.4).
                crate::pnp::DeviceNode {
                    kernel: self.kernel,
                    index: i,
                }
                .remove_gone();
            }
        }
    }
}

impl Drop for File<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() && lock(&self.kernel.state.crash).is_none() {
            self.close_inner();
        }
    }
}
