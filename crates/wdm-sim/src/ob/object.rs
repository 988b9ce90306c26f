//! The object manager's part: driver objects, device objects, names and symbolic links.
//!
//! Names are case-insensitive, as in the object manager; `\DosDevices\X` and `\GLOBAL??\X`
//! are the same place as `\??\X`, and a Win32 path `\\.\X` opens `\??\X`.
//!
//! The namespace is never empty: it starts with the names a booted Windows has
//! ([`crate::namespace`]), which collide with a driver's names like any other object's.

use std::alloc::Layout;
use std::collections::HashMap;

use wdm_sys::{
    _DEVOBJ_EXTENSION, BOOLEAN, DEVICE_OBJECT, DO_DEVICE_HAS_NAME, DO_DEVICE_INITIALIZING, DO_EXCLUSIVE, DRIVER_OBJECT,
    IO_TYPE_DEVICE, NTSTATUS, PDEVICE_OBJECT, PDRIVER_OBJECT, PUNICODE_STRING, PVOID, STATUS_INSUFFICIENT_RESOURCES,
    STATUS_OBJECT_NAME_COLLISION, STATUS_OBJECT_NAME_INVALID, STATUS_OBJECT_NAME_NOT_FOUND,
    STATUS_OBJECT_TYPE_MISMATCH, STATUS_SUCCESS, ULONG,
};

use crate::kernel::{CURRENT_DRIVER, current, lock};

/// Reads a UNICODE_STRING.
///
/// # Safety
/// `s` must be NULL or point to a valid UNICODE_STRING whose buffer holds `Length` bytes.
pub(crate) unsafe fn read_unicode(s: PUNICODE_STRING) -> Option<String> {
    if s.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees a valid UNICODE_STRING.
    let s = unsafe { &*s };
    if s.Buffer.is_null() || s.Length == 0 {
        return Some(String::new());
    }
    // SAFETY: the caller guarantees `Length` readable bytes at `Buffer`.
    let units = unsafe { std::slice::from_raw_parts(s.Buffer, usize::from(s.Length) / 2) };
    Some(String::from_utf16_lossy(units))
}

/// The canonical form of an object name: lower case (the object manager compares names
/// case-insensitively), `\??` for the DOS device directory whichever of its names is used
/// (`\DosDevices`, `\GLOBAL??`, `\??`, Win32's `\\.`), and the boot-time links through it
/// followed: `\??\Global\X` is `\??\X` (`Global` links to the directory itself) and
/// `\??\GLOBALROOT\Device\X` is `\Device\X` (`GLOBALROOT` links to the root), so a name
/// spelled through them collides with the same name spelled directly, as on Windows. The links
/// themselves (`\??\Global`, nothing after it) keep their own name.
pub(crate) fn canonical(name: &str) -> String {
    /// `rest` without its leading `\component`, if it starts with that whole component.
    fn after<'a>(rest: &'a str, component: &str) -> Option<&'a str> {
        let r = rest.strip_prefix('\\')?.strip_prefix(component)?;
        (r.is_empty() || r.starts_with('\\')).then_some(r)
    }
    let lower = name.to_lowercase();
    let Some(mut rest) = ["dosdevices", "global??", "??"]
        .iter()
        .find_map(|dir| after(&lower, dir))
        .or_else(|| {
            lower
                .strip_prefix("\\\\.")
                .filter(|r| r.is_empty() || r.starts_with('\\'))
        })
    else {
        return lower;
    };
    loop {
        match after(rest, "global") {
            Some(r) if !r.is_empty() => rest = r,
            _ => break,
        }
    }
    if let Some(r) = after(rest, "globalroot")
        && !r.is_empty()
    {
        return canonical(r);
    }
    format!("\\??{rest}")
}

/// A UTF-16 string the simulator owns, with a UNICODE_STRING pointing into it.
pub(crate) struct OwnedUnicode {
    _buffer: Vec<u16>,
    pub string: wdm_sys::UNICODE_STRING,
}

impl OwnedUnicode {
    pub(crate) fn new(s: &str) -> Box<Self> {
        let mut buffer: Vec<u16> = s.encode_utf16().collect();
        let len = (buffer.len() * 2) as u16;
        buffer.push(0);
        let mut b = Box::new(Self {
            _buffer: buffer,
            string: wdm_sys::UNICODE_STRING::default(),
        });
        b.string = wdm_sys::UNICODE_STRING {
            Length: len,
            MaximumLength: len + 2,
            Buffer: b._buffer.as_mut_ptr(),
        };
        b
    }
}

/// What the simulator keeps for a device, in the same allocation, just before the
/// DEVICE_OBJECT (so the hot paths reach it without a lookup).
#[repr(C, align(16))]
pub(crate) struct DeviceSim {
    magic: u64,
    pub start_io: crate::startio::StartIoState,
}

const DEVICE_MAGIC: u64 = 0x5645_4453_4d44_5721; // "!WDMSDEV"
const DEVICE_HEADER: usize = size_of::<DeviceSim>().next_multiple_of(16);

/// The simulator's data for `device`.
///
/// # Safety
/// `device` must be a device object created by the simulator and not yet freed.
pub(crate) unsafe fn device_sim<'a>(device: PDEVICE_OBJECT) -> &'a DeviceSim {
    // SAFETY: the caller guarantees a simulator device, which has the header right before it.
    let sim = unsafe { &*device.cast::<u8>().wrapping_sub(DEVICE_HEADER).cast::<DeviceSim>() };
    assert_eq!(
        sim.magic, DEVICE_MAGIC,
        "{device:p} is not a device object the simulator created"
    );
    sim
}

/// A heap block the kernel and drivers reach through raw pointers (a driver object, a file
/// object, an extension). Unlike a `Box`, moving the owner asserts nothing about uniqueness, so
/// the addresses handed out stay valid: a `Box` moved into a table is retagged as unique, which
/// invalidates every pointer derived from it before (Stacked Borrows), and freeing it through
/// the moved `Box` is then undefined behaviour.
pub(crate) struct RawBox<T>(std::ptr::NonNull<T>);

impl<T> RawBox<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(std::ptr::NonNull::from(Box::leak(Box::new(value))))
    }

    /// The block's address, for the kernel's structures and the drivers.
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.0.as_ptr()
    }
}

impl<T> Drop for RawBox<T> {
    fn drop(&mut self) {
        // SAFETY: made by `Box::leak` in `new`, freed once, here; nothing uses the address after
        // its owner (a driver, device or file record) goes.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// A loaded driver, as the I/O manager keeps it.
pub(crate) struct DriverRecord {
    pub _object: RawBox<DRIVER_OBJECT>,
    pub _extension: RawBox<wdm_sys::DRIVER_EXTENSION>,
    pub _name: Box<OwnedUnicode>,
    /// The buffer `DriverExtension->ServiceKeyName` points into.
    pub _service_key: Box<OwnedUnicode>,
    /// IoAllocateDriverObjectExtension blocks: (client id, block, layout).
    pub client_extensions: Vec<(usize, usize, Layout)>,
}

/// A device object the simulator allocated.
pub(crate) struct DeviceRecord {
    pub name: Option<String>,
    pub driver: usize,
    layout: Layout,
    extension: RawBox<_DEVOBJ_EXTENSION>,
    /// File objects open on it.
    pub open_files: usize,
    /// IoDeleteDevice was called while files were open: freed when the last one closes.
    pub delete_pending: bool,
}

/// One symbolic link.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    pub name: String,
    pub target: String,
    pub driver: usize,
}

#[derive(Default)]
pub(crate) struct Objects {
    pub drivers: HashMap<usize, DriverRecord>,
    pub devices: HashMap<usize, DeviceRecord>,
    names: HashMap<String, usize>,
    links: HashMap<String, Link>,
}

impl Objects {
    /// The device a path names: through a symbolic link or directly.
    pub(crate) fn resolve(&self, path: &str) -> Option<usize> {
        let mut name = canonical(path);
        for _ in 0..8 {
            if let Some(&device) = self.names.get(&name) {
                return Some(device);
            }
            name = canonical(&self.links.get(&name)?.target);
        }
        None
    }

    /// Whether an object already has this canonical name: a driver's device or link, or one
    /// of the names the machine booted with.
    fn taken(&self, key: &str) -> bool {
        self.names.contains_key(key) || self.links.contains_key(key) || crate::namespace::lookup(key).is_some()
    }

    /// The device objects `driver` owns.
    pub(crate) fn devices_of(&self, driver: usize) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .devices
            .iter()
            .filter(|(_, d)| d.driver == driver)
            .map(|(&a, _)| a)
            .collect();
        v.sort_unstable();
        v
    }

    /// The symbolic links `driver` created and has not deleted.
    pub(crate) fn links_of(&self, driver: usize) -> Vec<Link> {
        let mut v: Vec<Link> = self.links.values().filter(|l| l.driver == driver).cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The memory of a live device object (and its extension): `[start, end)`.
    pub(crate) fn device_extent(&self, device: usize) -> Option<(usize, usize)> {
        let record = self.devices.get(&device)?;
        Some((device, device - DEVICE_HEADER + record.layout.size()))
    }

    /// Frees a device object's memory (after IoDeleteDevice, once no file is open on it).
    pub(crate) fn free_device(&mut self, device: usize) {
        if let Some(record) = self.devices.remove(&device) {
            drop(record.extension);
            let block = (device - DEVICE_HEADER) as *mut u8;
            // SAFETY: the header was written in IoCreateDevice and is dropped once, here.
            unsafe { std::ptr::drop_in_place(block.cast::<DeviceSim>()) };
            // SAFETY: allocated in IoCreateDevice with this layout, removed from the table once.
            unsafe { std::alloc::dealloc(block, record.layout) };
        }
    }
}

impl Drop for Objects {
    fn drop(&mut self) {
        let devices: Vec<usize> = self.devices.keys().copied().collect();
        for d in devices {
            self.free_device(d);
        }
        for driver in self.drivers.values_mut() {
            for (_, block, layout) in driver.client_extensions.drain(..) {
                // SAFETY: allocated by IoAllocateDriverObjectExtension with this layout.
                unsafe { std::alloc::dealloc(block as *mut u8, layout) };
            }
        }
    }
}

/// `IoCreateDevice`.
///
/// # Safety
/// Kernel routine: arguments as documented for the WDK routine.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoCreateDevice(
    driver: PDRIVER_OBJECT,
    extension_size: ULONG,
    name: PUNICODE_STRING,
    device_type: ULONG,
    characteristics: ULONG,
    exclusive: BOOLEAN,
    out: *mut PDEVICE_OBJECT,
) -> NTSTATUS {
    let k = current();
    if crate::pool::low_resources_fails(k) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    // SAFETY: the caller passes NULL or a valid UNICODE_STRING.
    let name = unsafe { read_unicode(name) };
    if name.as_deref().is_some_and(|n| !n.starts_with('\\')) {
        return STATUS_OBJECT_NAME_INVALID;
    }
    let mut objects = lock(&k.objects);
    if let Some(n) = &name
        && objects.taken(&canonical(n))
    {
        return STATUS_OBJECT_NAME_COLLISION;
    }
    let base = size_of::<DEVICE_OBJECT>();
    let ext = (extension_size as usize).next_multiple_of(16);
    let Ok(layout) = Layout::from_size_align(DEVICE_HEADER + base + ext, 16) else {
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    // SAFETY: non-zero size.
    let block = unsafe { std::alloc::alloc_zeroed(layout) };
    if block.is_null() {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    // SAFETY: the block starts with room for the header, suitably aligned.
    unsafe {
        block.cast::<DeviceSim>().write(DeviceSim {
            magic: DEVICE_MAGIC,
            start_io: Default::default(),
        })
    };
    let mem = block.wrapping_add(DEVICE_HEADER);
    let device = mem.cast::<DEVICE_OBJECT>();
    let devobj_ext = RawBox::new(_DEVOBJ_EXTENSION {
        Type: 13,
        Size: size_of::<_DEVOBJ_EXTENSION>() as u16,
        DeviceObject: device,
    });
    // The driver object by field, never as `&mut DRIVER_OBJECT`: other processors read its
    // dispatch table while a driver creates a device.
    // SAFETY: `driver` is a driver object the simulator created (the caller's contract).
    let next = unsafe { (*driver).DeviceObject };
    // SAFETY: `device` is a fresh, zeroed, suitably aligned block nobody else references.
    let d = unsafe { &mut *device };
    {
        d.Type = IO_TYPE_DEVICE as i16;
        d.Size = (base + extension_size as usize) as u16;
        d.DriverObject = driver;
        d.NextDevice = next;
        d.DeviceExtension = if extension_size > 0 {
            mem.wrapping_add(base).cast()
        } else {
            std::ptr::null_mut()
        };
        d.DeviceType = device_type;
        d.Characteristics = characteristics;
        d.StackSize = 1;
        d.Flags = DO_DEVICE_INITIALIZING
            | if exclusive != 0 { DO_EXCLUSIVE } else { 0 }
            | if name.is_some() { DO_DEVICE_HAS_NAME } else { 0 };
        d.DeviceObjectExtension = devobj_ext.as_ptr();
        // Through `device`, not `d`: the queue's self-links must outlive this reference.
        // SAFETY: only the queue's address in the device block is computed.
        let queue = unsafe { &raw mut (*device).DeviceQueue };
        // SAFETY: the queue is inside the writable device block.
        unsafe { crate::devqueue::initialize(queue) };
        // SAFETY: `driver` is a driver object the simulator created (the caller's contract).
        unsafe { (*driver).DeviceObject = device };
        // SAFETY: `out` is writable (caller's contract).
        unsafe { out.write(device) };
    }
    if let Some(n) = &name {
        objects.names.insert(canonical(n), device as usize);
    }
    objects.devices.insert(
        device as usize,
        DeviceRecord {
            name,
            driver: driver as usize,
            layout,
            extension: devobj_ext,
            open_files: 0,
            delete_pending: false,
        },
    );
    STATUS_SUCCESS
}

/// `IoDeleteDevice`: unlinks the device from its driver and its name; the memory goes when no
/// file object is open on it any more.
///
/// # Safety
/// Kernel routine: `device` must be a device object from IoCreateDevice.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoDeleteDevice(device: PDEVICE_OBJECT) {
    let k = current();
    crate::po::check_delete(k, device);
    crate::pnp::wmi::on_delete(k, device);
    let mut objects = lock(&k.objects);
    let Some(record) = objects.devices.get_mut(&(device as usize)) else {
        drop(objects);
        k.report(
            crate::report::Rule::InvalidParameter,
            "IoDeleteDevice",
            None,
            [device as usize, 0, 0, 0],
            format!("{device:p} is not a device object (or was already deleted)"),
        );
        return;
    };
    if record.delete_pending {
        drop(objects);
        k.report(
            crate::report::Rule::InvalidParameter,
            "IoDeleteDevice",
            None,
            [device as usize, 0, 0, 0],
            format!("{device:p} was already deleted"),
        );
        return;
    }
    record.delete_pending = true;
    let open = record.open_files;
    // The extension's remove lock (if any) dies with the device, as far as Verifier knows.
    let end = device as usize - DEVICE_HEADER + record.layout.size();
    lock(&k.remlocks).forget_range(device as usize, end);
    if let Some(name) = record.name.clone() {
        objects.names.remove(&canonical(&name));
    }
    // Fields, not `&DEVICE_OBJECT`: its device queue's lock word is atomic.
    // SAFETY: `device` is live (it is in the table).
    let driver = unsafe { (*device).DriverObject };
    // SAFETY: as above.
    let next = unsafe { (*device).NextDevice };
    // SAFETY: its driver object is live while it has devices.
    let mut link: &mut PDEVICE_OBJECT = unsafe { &mut (*driver).DeviceObject };
    while !link.is_null() {
        if *link == device {
            *link = next;
            break;
        }
        // SAFETY: every device in the driver's list is live.
        link = unsafe { &mut (**link).NextDevice };
    }
    // A device something is still attached to stays until that device detaches (a filter
    // forwards REMOVE, the function driver below deletes its device, then the filter detaches
    // from it: IoDetachDevice writes the deleted device's AttachedDevice, so Windows frees it
    // only then, like a device with a file open).
    // SAFETY: as above.
    let attached = !unsafe { (*device).AttachedDevice }.is_null();
    if open == 0 && !attached {
        objects.free_device(device as usize);
    }
}

unsafe fn link_names(link: PUNICODE_STRING) -> Option<String> {
    // SAFETY: forwarded from the routines below.
    unsafe { read_unicode(link) }
}

/// `IoCreateSymbolicLink`.
///
/// # Safety
/// Kernel routine: both arguments must be valid UNICODE_STRINGs.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoCreateSymbolicLink(link: PUNICODE_STRING, target: PUNICODE_STRING) -> NTSTATUS {
    let k = current();
    // SAFETY: caller's contract.
    let (Some(name), Some(target)) = (unsafe { link_names(link) }, unsafe { link_names(target) }) else {
        return STATUS_OBJECT_NAME_INVALID;
    };
    if !name.starts_with('\\') || !target.starts_with('\\') {
        return STATUS_OBJECT_NAME_INVALID;
    }
    if crate::pool::low_resources_fails(k) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    let mut objects = lock(&k.objects);
    let key = canonical(&name);
    if objects.taken(&key) {
        return STATUS_OBJECT_NAME_COLLISION;
    }
    let driver = CURRENT_DRIVER.with(std::cell::Cell::get);
    objects.links.insert(key, Link { name, target, driver });
    STATUS_SUCCESS
}

/// `IoDeleteSymbolicLink`.
///
/// A name that is no link: STATUS_OBJECT_NAME_NOT_FOUND if nothing has it, and
/// STATUS_OBJECT_TYPE_MISMATCH if a device or directory has it (NtOpenSymbolicLinkObject's
/// answers, which IoDeleteSymbolicLink returns). A link the machine booted with
/// (`\DosDevices\PIPE`) is reported and kept, with STATUS_SUCCESS: see [`crate::namespace`].
///
/// # Safety
/// Kernel routine: `link` must be a valid UNICODE_STRING.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoDeleteSymbolicLink(link: PUNICODE_STRING) -> NTSTATUS {
    let k = current();
    // SAFETY: caller's contract.
    let Some(name) = (unsafe { link_names(link) }) else {
        return STATUS_OBJECT_NAME_INVALID;
    };
    let key = canonical(&name);
    let mut objects = lock(&k.objects);
    if objects.links.remove(&key).is_some() {
        return STATUS_SUCCESS;
    }
    if objects.names.contains_key(&key) {
        return STATUS_OBJECT_TYPE_MISMATCH;
    }
    drop(objects);
    match crate::namespace::lookup(&key).map(|o| o.kind) {
        None => STATUS_OBJECT_NAME_NOT_FOUND,
        Some(crate::namespace::Kind::SymbolicLink(target)) => {
            let driver = CURRENT_DRIVER.with(std::cell::Cell::get);
            k.report(
                crate::report::Rule::SystemNameDeleted,
                "IoDeleteSymbolicLink",
                None,
                [driver, 0, 0, 0],
                format!(
                    "{name}: a link the system created at boot (to {target}); Windows deletes it \
                     until the next boot, the simulator keeps it"
                ),
            );
            STATUS_SUCCESS
        }
        Some(_) => STATUS_OBJECT_TYPE_MISMATCH,
    }
}

/// `IoAllocateDriverObjectExtension`: a zeroed block tied to the driver object, identified by
/// `id`, freed by the I/O manager when the driver unloads.
///
/// # Safety
/// Kernel routine: `driver` must be a driver object and `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoAllocateDriverObjectExtension(
    driver: PDRIVER_OBJECT,
    id: PVOID,
    size: ULONG,
    out: *mut PVOID,
) -> NTSTATUS {
    let k = current();
    let mut objects = lock(&k.objects);
    let Some(record) = objects.drivers.get_mut(&(driver as usize)) else {
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    if record.client_extensions.iter().any(|(i, ..)| *i == id as usize) {
        // SAFETY: `out` is writable (caller's contract).
        unsafe { *out = std::ptr::null_mut() };
        return STATUS_OBJECT_NAME_COLLISION;
    }
    let Ok(layout) = Layout::from_size_align((size as usize).max(1), 16) else {
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    // SAFETY: non-zero size.
    let block = unsafe { std::alloc::alloc_zeroed(layout) };
    if block.is_null() {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    record.client_extensions.push((id as usize, block as usize, layout));
    // SAFETY: `out` is writable (caller's contract).
    unsafe { *out = block.cast() };
    STATUS_SUCCESS
}

/// `IoGetDriverObjectExtension`.
///
/// # Safety
/// Kernel routine: `driver` must be a driver object.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoGetDriverObjectExtension(driver: PDRIVER_OBJECT, id: PVOID) -> PVOID {
    let k = current();
    let objects = lock(&k.objects);
    objects
        .drivers
        .get(&(driver as usize))
        .and_then(|r| r.client_extensions.iter().find(|(i, ..)| *i == id as usize))
        .map_or(std::ptr::null_mut(), |&(_, block, _)| block as PVOID)
}

/// `IoAttachDeviceToDeviceStack`: puts `source` on top of the stack `target` belongs to and
/// returns the device it now sits on (NULL if that device is being deleted).
///
/// # Safety
/// Kernel routine: two live device objects.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoAttachDeviceToDeviceStack(
    source: PDEVICE_OBJECT,
    target: PDEVICE_OBJECT,
) -> PDEVICE_OBJECT {
    let k = current();
    let objects = lock(&k.objects);
    // SAFETY: `target` is live (caller's contract).
    let top = unsafe { crate::request::top_of_stack(target) };
    if objects.devices.get(&(top as usize)).is_none_or(|d| d.delete_pending) {
        return std::ptr::null_mut();
    }
    // Field by field, not as `&mut DEVICE_OBJECT`: `top` may be receiving IRPs on other
    // processors (its device queue's lock word, CurrentIrp).
    // SAFETY: a live device object; the stack is changed under the objects lock.
    unsafe { (*top).AttachedDevice = source };
    // SAFETY: as above.
    let stack_size = unsafe { (*top).StackSize };
    // SAFETY: as above.
    let alignment = unsafe { (*top).AlignmentRequirement };
    // SAFETY: as above.
    let sector_size = unsafe { (*top).SectorSize };
    // SAFETY: the source is live and not yet in any stack: only its creator touches it.
    let s = unsafe { &mut *source };
    s.StackSize = stack_size + 1;
    s.AlignmentRequirement = s.AlignmentRequirement.max(alignment);
    s.SectorSize = sector_size;
    top
}

/// `IoDetachDevice`: detaches whatever is attached to `target`.
///
/// # Safety
/// Kernel routine: a live device object with a device attached.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoDetachDevice(target: PDEVICE_OBJECT) {
    let k = current();
    let mut objects = lock(&k.objects);
    // SAFETY: a live device (caller's contract), changed under the objects lock.
    unsafe { (*target).AttachedDevice = std::ptr::null_mut() };
    // The last thing keeping a deleted device (see IoDeleteDevice) is gone.
    if let Some(record) = objects.devices.get(&(target as usize))
        && record.delete_pending
        && record.open_files == 0
    {
        objects.free_device(target as usize);
    }
}

/// `IoGetAttachedDeviceReference`: the top of the stack `device` belongs to. Reference counts
/// on device objects are not modelled (the simulator frees a device when it is deleted and no
/// file is open on it), so the reference needs no matching release.
///
/// # Safety
/// Kernel routine: a live device object.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoGetAttachedDeviceReference(device: PDEVICE_OBJECT) -> PDEVICE_OBJECT {
    let k = current();
    let _objects = lock(&k.objects);
    // SAFETY: a live device (caller's contract).
    unsafe { crate::request::top_of_stack(device) }
}
