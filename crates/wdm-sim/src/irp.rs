//! IRPs: allocation, IoCallDriver, completion.
//!
//! The simulator records every IRP it hands out, so it can tell a live IRP from a completed or
//! freed one (double completion is 0x44 even when the driver never touches freed memory: freed
//! IRPs stay quarantined, their addresses are not reused while the kernel lives).

use std::alloc::Layout;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};

use wdm_sys::ntddk::{IoGetCurrentIrpStackLocation, IoMarkIrpPending};
use wdm_sys::{
    BOOLEAN, CCHAR, IO_STACK_LOCATION, IO_TYPE_IRP, IRP, NT_SUCCESS, NTSTATUS, PDEVICE_OBJECT, PIO_STACK_LOCATION,
    PIRP, SL_INVOKE_ON_CANCEL, SL_INVOKE_ON_ERROR, SL_INVOKE_ON_SUCCESS, SL_PENDING_RETURNED,
    STATUS_INVALID_DEVICE_REQUEST, STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING,
};

use crate::kernel::{State, as_driver, current, lock};
use crate::report::Rule;

/// How many completed IRPs stay allocated (and recognisable) after completion.
const QUARANTINE: usize = 1 << 14;

/// What the I/O manager's originator sees when an IRP it built completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// `IoStatus.Status`.
    pub status: NTSTATUS,
    /// `IoStatus.Information`.
    pub information: usize,
}

impl Completion {
    /// The IRP's `IoStatus`.
    pub(crate) fn of(irp: &IRP) -> Self {
        Self {
            status: status(irp),
            information: irp.IoStatus.Information as usize,
        }
    }
}

/// `IoStatus.Status` (a union with `Pointer`; drivers write `Status`).
pub(crate) fn status(irp: &IRP) -> NTSTATUS {
    // SAFETY: both union members are plain data of the same size; reading `Status` is always
    // defined.
    unsafe { irp.IoStatus.__bindgen_anon_1.Status }
}

/// The IRP's current stack location.
///
/// # Safety
/// `irp` must be live with its current location inside its stack, and no other reference to
/// that location may be in use.
pub(crate) unsafe fn current_location<'a>(irp: PIRP) -> &'a mut IO_STACK_LOCATION {
    // SAFETY: the IRP is live (caller).
    let p = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: the location is inside the stack and unaliased (caller).
    unsafe { &mut *p }
}

/// The IRP's next-lower stack location.
///
/// # Safety
/// As [`current_location`], for the location below the current one.
pub(crate) unsafe fn next_location<'a>(irp: PIRP) -> &'a mut IO_STACK_LOCATION {
    // SAFETY: the IRP is live (caller).
    let p = unsafe { wdm_sys::ntddk::IoGetNextIrpStackLocation(irp) };
    // SAFETY: the location is inside the stack and unaliased (caller).
    unsafe { &mut *p }
}

/// An I/O-manager request waiting for its IRP to complete.
#[derive(Default)]
pub(crate) struct Waiter {
    done: Mutex<Option<Completion>>,
    cv: Condvar,
}

impl Waiter {
    pub(crate) fn wait(&self, timeout: std::time::Duration) -> Option<Completion> {
        let guard = lock(&self.done);
        let (guard, _) = self
            .cv
            .wait_timeout_while(guard, timeout, |d| d.is_none())
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard
    }

    pub(crate) fn get(&self) -> Option<Completion> {
        *lock(&self.done)
    }

    fn finish(&self, c: Completion) {
        *lock(&self.done) = Some(c);
        self.cv.notify_all();
    }
}

/// Who made an IRP.
#[derive(Clone)]
pub(crate) enum Origin {
    /// The I/O manager, on behalf of a test's request.
    Request(Arc<Waiter>),
    /// A driver, with IoAllocateIrp.
    Driver,
}

pub(crate) struct IrpRecord {
    layout: Layout,
    pub origin: Origin,
    pub completed: bool,
}

#[derive(Default)]
pub(crate) struct IrpTable {
    live: HashMap<usize, IrpRecord>,
    quarantine: VecDeque<(usize, Layout)>,
    pub allocated: u64,
}

impl Drop for IrpTable {
    fn drop(&mut self) {
        for (irp, record) in self.live.drain() {
            // SAFETY: allocated by `allocate` with this layout.
            unsafe { std::alloc::dealloc(irp as *mut u8, record.layout) };
        }
        for (irp, layout) in self.quarantine.drain(..) {
            // SAFETY: as above; quarantined blocks are no longer in `live`.
            unsafe { std::alloc::dealloc(irp as *mut u8, layout) };
        }
    }
}

/// Allocates and initializes an IRP with `stack_size` locations, as IoAllocateIrp lays it out:
/// the header, then the locations; the current location is one past the last.
pub(crate) fn allocate(k: &State, stack_size: CCHAR, origin: Origin) -> PIRP {
    let n = stack_size.max(1) as usize;
    let size = size_of::<IRP>() + n * size_of::<IO_STACK_LOCATION>();
    let layout = Layout::from_size_align(size, 16).expect("IRP layout");
    // SAFETY: non-zero size.
    let mem = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!mem.is_null(), "out of memory allocating an IRP");
    let irp = mem.cast::<IRP>();
    // SAFETY: a fresh, zeroed block of the right size and alignment.
    let i = unsafe { &mut *irp };
    i.Type = IO_TYPE_IRP as i16;
    i.Size = size as u16;
    i.StackCount = n as i8;
    i.CurrentLocation = n as i8 + 1;
    let stack = mem.wrapping_add(size_of::<IRP>()).cast::<IO_STACK_LOCATION>();
    i.Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation = stack.wrapping_add(n);
    // SAFETY: the list head is inside the IRP.
    unsafe { wdm_sys::ntddk::InitializeListHead(&raw mut i.ThreadListEntry) };
    let mut table = lock(&k.irps);
    table.allocated += 1;
    table.live.insert(
        irp as usize,
        IrpRecord {
            layout,
            origin,
            completed: false,
        },
    );
    irp
}

/// Frees an IRP into quarantine.
fn release(table: &mut IrpTable, irp: PIRP) {
    if let Some(record) = table.live.remove(&(irp as usize)) {
        table.quarantine.push_back((irp as usize, record.layout));
        if table.quarantine.len() > QUARANTINE
            && let Some((old, layout)) = table.quarantine.pop_front()
        {
            // SAFETY: allocated by `allocate` with this layout; out of `live`, so unreachable.
            unsafe { std::alloc::dealloc(old as *mut u8, layout) };
        }
    }
}

/// `IoAllocateIrp`.
#[unsafe(no_mangle)]
pub extern "C-unwind" fn IoAllocateIrp(stack_size: CCHAR, _charge_quota: BOOLEAN) -> PIRP {
    allocate(current(), stack_size, Origin::Driver)
}

/// `IoFreeIrp`.
///
/// # Safety
/// Kernel routine: `irp` must come from IoAllocateIrp.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoFreeIrp(irp: PIRP) {
    let k = current();
    let mut table = lock(&k.irps);
    if !table.live.contains_key(&(irp as usize)) {
        drop(table);
        k.report(
            Rule::InvalidParameter,
            "IoFreeIrp",
            Some(irp as usize),
            [irp as usize, 0, 0, 0],
            "freeing an IRP that is not allocated (freed twice?)".into(),
        );
        return;
    }
    release(&mut table, irp);
}

/// `IofCallDriver`: moves to the next location and calls the device's dispatch routine.
///
/// # Safety
/// Kernel routine: `device` and `irp` must be live objects and the next location set up.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IofCallDriver(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    let k = current();
    // SAFETY: the caller guarantees a live IRP.
    let i = unsafe { &mut *irp };
    i.CurrentLocation -= 1;
    if i.CurrentLocation <= 0 {
        k.report(
            Rule::NoMoreStackLocations,
            "IofCallDriver",
            Some(irp as usize),
            [irp as usize, 0, 0, 0],
            format!("IRP has {} stack locations; the device stack is deeper", i.StackCount),
        );
    }
    // SAFETY: the IRP is live.
    let s = unsafe { IoGetCurrentIrpStackLocation(irp) }.wrapping_sub(1);
    i.Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation = s;
    // SAFETY: the new location is within the IRP's stack (checked above).
    let stack = unsafe { &mut *s };
    stack.DeviceObject = device;
    // SAFETY: the device is live (caller's contract).
    let driver = unsafe { (*device).DriverObject };
    // SAFETY: a live device's driver object is live.
    let routine = unsafe { (*driver).MajorFunction[usize::from(stack.MajorFunction)] };
    let Some(routine) = routine else {
        k.report(
            Rule::InvalidParameter,
            "IofCallDriver",
            Some(irp as usize),
            [irp as usize, device as usize, 0, 0],
            format!("the driver has a NULL MajorFunction[{:#x}]", stack.MajorFunction),
        );
        return STATUS_INVALID_DEVICE_REQUEST;
    };
    // SAFETY: calling the driver's dispatch routine with a live device and IRP, as Windows does.
    as_driver(driver as usize, || unsafe { routine(device, irp) })
}

/// The dispatch routine the I/O manager installs for every major function a driver leaves
/// empty (IopInvalidDeviceRequest): completes with STATUS_INVALID_DEVICE_REQUEST.
pub(crate) unsafe extern "C-unwind" fn invalid_device_request(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: called by IofCallDriver with a live IRP the I/O manager owns.
    let i = unsafe { &mut *irp };
    i.IoStatus.__bindgen_anon_1.Status = STATUS_INVALID_DEVICE_REQUEST;
    i.IoStatus.Information = 0;
    // SAFETY: completing the IRP this routine owns, once.
    unsafe { IofCompleteRequest(irp, 0) };
    STATUS_INVALID_DEVICE_REQUEST
}

/// `IofCompleteRequest`: runs the completion routines from the current location up, and hands
/// the IRP back to its originator.
///
/// # Safety
/// Kernel routine: `irp` must be a live IRP the caller owns.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IofCompleteRequest(irp: PIRP, _boost: CCHAR) {
    let k = current();
    {
        let table = lock(&k.irps);
        match table.live.get(&(irp as usize)) {
            Some(r) if !r.completed => {}
            found => {
                let freed = found.is_none();
                drop(table);
                k.report(
                    Rule::DoubleCompletion,
                    "IofCompleteRequest",
                    Some(irp as usize),
                    [irp as usize, 0, 0, 0],
                    if freed {
                        "completing an IRP that was already completed and freed".into()
                    } else {
                        "completing an IRP that was already completed".into()
                    },
                );
                return;
            }
        }
    }
    // SAFETY: the IRP is live (checked above) and owned by the caller.
    let i = unsafe { &mut *irp };
    let initial = status(i);
    if initial == STATUS_PENDING || initial == -1 {
        k.report(
            Rule::CompletePending,
            "IofCompleteRequest",
            Some(irp as usize),
            [0x06, irp as usize, initial as u32 as usize, 0],
            format!("completing with IoStatus.Status {:#x}", initial as u32),
        );
    }
    if i.CancelRoutine.is_some() {
        k.report(
            Rule::CompleteWithCancelRoutine,
            "IofCompleteRequest",
            Some(irp as usize),
            [0x07, irp as usize, 0, 0],
            "completing an IRP whose cancel routine is still set".into(),
        );
    }

    // Walk the stack up, as IopfCompleteRequest does.
    while i.CurrentLocation <= i.StackCount {
        // SAFETY: the current location is within the stack while CurrentLocation <= StackCount.
        let stack: PIO_STACK_LOCATION = unsafe { IoGetCurrentIrpStackLocation(irp) };
        // SAFETY: as above.
        let s = unsafe { &mut *stack };
        i.PendingReturned = s.Control & SL_PENDING_RETURNED as u8;
        // Move up one location.
        i.CurrentLocation += 1;
        i.Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation = stack.wrapping_add(1);
        let status = self::status(i);
        let invoke = (NT_SUCCESS(status) && s.Control & SL_INVOKE_ON_SUCCESS as u8 != 0)
            || (!NT_SUCCESS(status) && s.Control & SL_INVOKE_ON_ERROR as u8 != 0)
            || (i.Cancel != 0 && s.Control & SL_INVOKE_ON_CANCEL as u8 != 0);
        let routine = s.CompletionRoutine;
        let context = s.Context;
        // Clear the finished location (IopClearStackLocation).
        s.MajorFunction = 0;
        s.MinorFunction = 0;
        s.Flags = 0;
        s.Control = 0;
        s.CompletionRoutine = None;
        s.Context = std::ptr::null_mut();
        if let (true, Some(routine)) = (invoke, routine) {
            let upper = if i.CurrentLocation > i.StackCount {
                std::ptr::null_mut()
            } else {
                // SAFETY: the new current location is within the stack.
                unsafe { current_location(irp).DeviceObject }
            };
            // SAFETY: a device in the stack is live while it has IRPs in flight.
            let owner = unsafe { upper.as_ref() }.map_or(0, |d| d.DriverObject as usize);
            // SAFETY: calling the completion routine registered for this location.
            let result = as_driver(owner, || unsafe { routine(upper, irp, context) });
            if result == STATUS_MORE_PROCESSING_REQUIRED {
                return;
            }
        } else if i.CurrentLocation <= i.StackCount && i.PendingReturned != 0 {
            // No routine: propagate the pending mark upwards for the caller.
            // SAFETY: the current location is within the stack.
            unsafe { IoMarkIrpPending(irp) };
        }
    }
    finish(k, irp);
}

/// The IRP left the top of its stack: give its result to the originator and free it.
fn finish(k: &State, irp: PIRP) {
    // SAFETY: the IRP is live until `release` below.
    let completion = unsafe { Completion::of(&*irp) };
    let mut table = lock(&k.irps);
    let Some(record) = table.live.get_mut(&(irp as usize)) else {
        return;
    };
    record.completed = true;
    match record.origin.clone() {
        Origin::Request(waiter) => {
            release(&mut table, irp);
            drop(table);
            waiter.finish(completion);
        }
        Origin::Driver => {
            drop(table);
            k.report(
                Rule::CompletedDriverIrp,
                "IofCompleteRequest",
                Some(irp as usize),
                [irp as usize, 0, 0, 0],
                "an IRP from IoAllocateIrp reached the top of its stack: its completion routine must \
                 return STATUS_MORE_PROCESSING_REQUIRED and free it"
                    .into(),
            );
        }
    }
}
