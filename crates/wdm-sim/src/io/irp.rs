//! IRPs: allocation, IoCallDriver, completion, and the dispatch-return contract.
//!
//! Every IRP the simulator hands out has a hidden header just before it, with its state
//! (live, completed) and what the Verifier-style checks need: which locations were marked
//! pending when completion passed them, which forwarded the IRP, the status it completed with.
//! Completed IRPs stay allocated (quarantined) for a while, so a late second completion or
//! cancel is recognised rather than reading reused memory.

use std::alloc::Layout;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use wdm_sys::ntddk::IoGetCurrentIrpStackLocation;
use wdm_sys::{
    BOOLEAN, CCHAR, DISPATCH_LEVEL, IO_STACK_LOCATION, IO_TYPE_IRP, IRP, KIRQL, NT_SUCCESS, NTSTATUS, PDEVICE_OBJECT,
    PDRIVER_CANCEL, PIO_STACK_LOCATION, PIRP, SL_INVOKE_ON_CANCEL, SL_INVOKE_ON_ERROR, SL_INVOKE_ON_SUCCESS,
    SL_PENDING_RETURNED, STATUS_INVALID_DEVICE_REQUEST, STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING,
};

use crate::kernel::{State, as_driver, current, lock};
use crate::report::Rule;
use crate::{irql, spinlock, trace};

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
    /// The IRP's `IoStatus`, by raw place (see [`status`]).
    pub(crate) fn of(irp: PIRP) -> Self {
        Self {
            status: status(irp),
            // SAFETY: as in `status`.
            information: unsafe { (*irp).IoStatus.Information } as usize,
        }
    }
}

/// `IoStatus.Status` (a union with `Pointer`; drivers write `Status`), by raw place: an
/// `&IRP` would claim the fields IoCancelIrp writes from other processors.
fn status(irp: PIRP) -> NTSTATUS {
    // SAFETY: callers pass a live IRP they own (until it is released); only the field's
    // address is computed.
    let field = unsafe { &raw const (*irp).IoStatus.__bindgen_anon_1.Status };
    // SAFETY: as above; both union members are plain data, so reading `Status` is always
    // defined.
    unsafe { field.read() }
}

/// A stack location's `Control`, as an atomic: the dispatch-return check reads it on the
/// dispatching processor while completion may be clearing or marking it on another.
fn control_of<'a>(location: PIO_STACK_LOCATION) -> &'a AtomicU8 {
    // SAFETY: callers pass a location inside a live (or quarantined, still mapped) IRP's stack;
    // only the field's address is computed.
    let control = unsafe { &raw mut (*location).Control };
    // SAFETY: a byte, suitably aligned; the accesses that may run concurrently (the check,
    // completion's clearing and marking) are all atomic.
    unsafe { AtomicU8::from_ptr(control) }
}

/// Clears a finished location but its `Control` (IopClearStackLocation), field by field.
///
/// # Safety
/// `location` must be inside a live IRP's stack, and written by nobody else meanwhile.
unsafe fn clear_location(location: PIO_STACK_LOCATION) {
    // SAFETY: the caller's contract.
    unsafe { (*location).MajorFunction = 0 };
    // SAFETY: as above.
    unsafe { (*location).MinorFunction = 0 };
    // SAFETY: as above.
    unsafe { (*location).Flags = 0 };
    // SAFETY: as above.
    unsafe { (*location).CompletionRoutine = None };
    // SAFETY: as above.
    unsafe { (*location).Context = std::ptr::null_mut() };
}

/// `Irp->Cancel`, read atomically: IoCancelIrp sets it on any processor at any time, so a
/// plain read (even a volatile one) is a data race.
pub(crate) fn cancel_flag(irp: PIRP) -> bool {
    // SAFETY: callers pass a live IRP (or a quarantined one, still mapped); only the field's
    // address is computed.
    let field = unsafe { &raw mut (*irp).Cancel };
    // SAFETY: a byte, suitably aligned; IoCancelIrp stores it atomically (`set_cancel_flag`),
    // and every read that may run concurrently with that store is atomic like this one.
    unsafe { AtomicU8::from_ptr(field) }.load(Ordering::Acquire) != 0
}

/// Sets `Irp->Cancel` (IoCancelIrp), atomically: see [`cancel_flag`].
pub(crate) fn set_cancel_flag(irp: PIRP) {
    // SAFETY: callers pass a live IRP; only the field's address is computed.
    let field = unsafe { &raw mut (*irp).Cancel };
    // SAFETY: as in `cancel_flag`.
    unsafe { AtomicU8::from_ptr(field) }.store(1, Ordering::Release);
}

/// `Irp->CancelRoutine`, read atomically: IoSetCancelRoutine and IoCancelIrp exchange it on
/// other processors, so a plain read is a data race.
pub(crate) fn cancel_routine(irp: PIRP) -> PDRIVER_CANCEL {
    // SAFETY: callers pass a live IRP; only the field's address is computed.
    let field = unsafe { &raw mut (*irp).CancelRoutine }.cast::<*mut std::ffi::c_void>();
    // SAFETY: `PDRIVER_CANCEL` is `Option<fn>`: pointer-sized and aligned, NULL is `None`;
    // every writer exchanges it atomically (IoSetCancelRoutine).
    let field = unsafe { AtomicPtr::from_ptr(field) };
    let routine = field.load(Ordering::Acquire);
    // SAFETY: stored as a `PDRIVER_CANCEL` (by IoSetCancelRoutine, or zeroed at allocation).
    unsafe { std::mem::transmute::<*mut std::ffi::c_void, PDRIVER_CANCEL>(routine) }
}

/// Sets `Tail.Overlay.CurrentStackLocation` by raw place (no `&mut IRP`).
///
/// # Safety
/// `irp` must be a live IRP the caller owns.
unsafe fn set_current_stack_location(irp: PIRP, location: PIO_STACK_LOCATION) {
    // SAFETY: the caller's live IRP; only the field's address is computed (the union member
    // every IRP uses).
    let slot = unsafe {
        &raw mut (*irp)
            .Tail
            .Overlay
            .__bindgen_anon_2
            .__bindgen_anon_1
            .CurrentStackLocation
    };
    // SAFETY: as above; the owner is the only writer of the field.
    unsafe { slot.write(location) };
}

/// The IRP's next-lower stack location.
///
/// # Safety
/// `irp` must be live with a location below its current one, and no other reference to that
/// location may be in use (a fresh IRP the I/O manager is building).
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

/// What the I/O manager does when a request IRP leaves the top of its stack (copying buffered
/// output back, unlocking MDLs), before the requester sees the result.
pub(crate) type Finisher = Box<dyn FnOnce(PIRP, Completion) + Send>;

/// Who made an IRP.
pub(crate) enum Origin {
    /// The I/O manager, on behalf of a test's request.
    Request(Arc<Waiter>, Option<Finisher>),
    /// A driver, with IoAllocateIrp.
    Driver,
}

const MAGIC: u64 = 0x5052_4953_4d44_5721; // "!WDMSIRP"
const LIVE: u8 = 1;
const COMPLETED: u8 = 2;

/// The hidden header before every IRP.
#[repr(C, align(16))]
pub(crate) struct IrpSim {
    magic: u64,
    state: AtomicU8,
    /// The status the IRP completed with, the last time IoCompleteRequest was called for it.
    completed_status: AtomicI32,
    /// The location current at that call: a driver above that reclaimed the IRP (completion
    /// routine returning STATUS_MORE_PROCESSING_REQUIRED) may complete it again, with another
    /// status, before the lower dispatch routine has returned (a power policy owner's
    /// PoRequestPowerIrp callback does), and the status is then the upper driver's.
    completed_location: AtomicU32,
    /// Bit `i`: location `i` (1-based, as CurrentLocation counts) was marked pending when
    /// completion passed it.
    marked_at_completion: AtomicU64,
    /// Bit `i`: the driver at location `i` passed the IRP down with IoCallDriver.
    forwarded: AtomicU64,
    /// Bit `i`: IoCompleteRequest was called with location `i` current (the driver there
    /// completed it, even if a completion routine above reclaimed it with
    /// STATUS_MORE_PROCESSING_REQUIRED before it reached the top).
    completed_at: AtomicU64,
    /// The device whose location was current at the last IoCompleteRequest (the completer).
    completed_by: std::sync::atomic::AtomicUsize,
    /// Dispatch calls under way: the dispatch-return check reads the IRP after the routine
    /// returns, by which time another thread may have completed and freed it, so a pinned IRP
    /// is never taken out of quarantine.
    pins: AtomicU32,
}

const HEADER: usize = size_of::<IrpSim>().next_multiple_of(16);

/// The hidden header of an IRP the simulator allocated, or None for anything else.
pub(crate) fn sim(irp: PIRP) -> Option<&'static IrpSim> {
    if irp.is_null() || !(irp as usize).is_multiple_of(16) {
        return None;
    }
    let header = irp.cast::<u8>().wrapping_sub(HEADER).cast::<IrpSim>();
    // The table is the authority on which addresses are IRPs; the magic is only a fast check
    // for the hot paths, after the table was consulted once (allocation).
    // SAFETY: only called for pointers the caller obtained as IRPs; every simulator IRP has this
    // header, and quarantined ones stay mapped.
    let h = unsafe { &*header };
    (h.magic == MAGIC).then_some(h)
}

pub(crate) struct IrpRecord {
    layout: Layout,
    pub origin: Origin,
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
            // SAFETY: allocated by `allocate` with this layout, at `irp - HEADER`.
            unsafe { std::alloc::dealloc((irp - HEADER) as *mut u8, record.layout) };
        }
        for (irp, layout) in self.quarantine.drain(..) {
            // SAFETY: as above; quarantined blocks are no longer in `live`.
            unsafe { std::alloc::dealloc((irp - HEADER) as *mut u8, layout) };
        }
    }
}

/// Whether `irp` is an IRP the simulator knows (live or completed but not yet reused).
pub(crate) fn is_known(k: &State, irp: PIRP) -> bool {
    lock(&k.irps).live.contains_key(&(irp as usize))
}

/// The device that called IoCompleteRequest last for `irp` (the one at the current location
/// then: the driver that owned the IRP), or 0.
pub(crate) fn completed_by(irp: PIRP) -> usize {
    sim(irp).map_or(0, |s| s.completed_by.load(Ordering::Acquire))
}

/// Whether `irp` has completed (reached the top of its stack).
pub(crate) fn is_completed(irp: PIRP) -> bool {
    sim(irp).is_some_and(|s| s.state.load(Ordering::Acquire) == COMPLETED)
}

/// Allocates and initializes an IRP with `stack_size` locations, as IoAllocateIrp lays it out:
/// the header, then the locations; the current location is one past the last.
pub(crate) fn allocate(k: &State, stack_size: CCHAR, origin: Origin) -> PIRP {
    let n = stack_size.max(1) as usize;
    let size = size_of::<IRP>() + n * size_of::<IO_STACK_LOCATION>();
    let layout = Layout::from_size_align(HEADER + size, 16).expect("IRP layout");
    // SAFETY: non-zero size.
    let mem = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!mem.is_null(), "out of memory allocating an IRP");
    let header = mem.cast::<IrpSim>();
    // SAFETY: the block starts with room for the header, suitably aligned.
    unsafe {
        header.write(IrpSim {
            magic: MAGIC,
            state: AtomicU8::new(LIVE),
            completed_status: AtomicI32::new(0),
            completed_location: AtomicU32::new(0),
            marked_at_completion: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            completed_at: AtomicU64::new(0),
            completed_by: std::sync::atomic::AtomicUsize::new(0),
            pins: AtomicU32::new(0),
        });
    }
    let irp = mem.wrapping_add(HEADER).cast::<IRP>();
    // SAFETY: a fresh, zeroed block of the right size and alignment.
    let i = unsafe { &mut *irp };
    i.Type = IO_TYPE_IRP as i16;
    i.Size = size as u16;
    i.StackCount = n as i8;
    i.CurrentLocation = n as i8 + 1;
    let stack = irp
        .cast::<u8>()
        .wrapping_add(size_of::<IRP>())
        .cast::<IO_STACK_LOCATION>();
    i.Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation = stack.wrapping_add(n);
    // SAFETY: the list head is inside the IRP.
    unsafe { wdm_sys::ntddk::InitializeListHead(&raw mut i.ThreadListEntry) };
    let mut table = lock(&k.irps);
    table.allocated += 1;
    table.live.insert(irp as usize, IrpRecord { layout, origin });
    drop(table);
    trace::irp(k, irp, trace::Event::Allocated);
    irp
}

/// Frees an IRP into quarantine.
fn release(k: &State, table: &mut IrpTable, irp: PIRP) {
    if let Some(record) = table.live.remove(&(irp as usize)) {
        trace::irp(k, irp, trace::Event::Freed);
        table.quarantine.push_back((irp as usize, record.layout));
        if table.quarantine.len() > QUARANTINE
            && let Some((old, layout)) = table.quarantine.pop_front()
        {
            if sim(old as PIRP).is_some_and(|h| h.pins.load(Ordering::Acquire) > 0) {
                // Its dispatch routine has not returned yet: keep it a while longer.
                table.quarantine.push_back((old, layout));
            } else {
                // SAFETY: allocated by `allocate` with this layout; out of `live`, and no
                // dispatch call is reading it.
                unsafe { std::alloc::dealloc((old - HEADER) as *mut u8, layout) };
            }
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
    release(k, &mut table, irp);
}

/// Reports a routine that returned at another IRQL than it was called at.
pub(crate) fn check_return_irql(k: &State, routine: &'static str, entry: KIRQL, irp: Option<PIRP>) {
    let now = irql::get();
    if now != entry {
        let rule = if routine == "completion routine" {
            Rule::CompletionChangedIrql
        } else {
            Rule::IrqlChangedAcrossCall
        };
        k.report(
            rule,
            routine,
            irp.map(|i| i as usize),
            [usize::from(entry), usize::from(now), irp.map_or(0, |i| i as usize), 0],
            format!("{routine} was called at IRQL {entry} and returned at IRQL {now}"),
        );
    }
}

/// Reports calling `routine` while holding a spin lock (SDV SpinLockSafe).
pub(crate) fn check_no_locks(k: &State, routine: &'static str, irp: Option<PIRP>) {
    let held = spinlock::held_count();
    if held > 0 {
        k.report(
            Rule::CalledHoldingSpinLock,
            routine,
            irp.map(|i| i as usize),
            [held, 0, 0, 0],
            format!("{routine} called while holding {held} spin lock(s)"),
        );
    }
}

/// `IofCallDriver`: moves to the next location and calls the device's dispatch routine, then
/// checks the dispatch-return contract (spec §6.1) as Driver Verifier does.
///
/// # Safety
/// Kernel routine: `device` and `irp` must be live objects and the next location set up.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IofCallDriver(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    let k = current();
    let Some(header) = sim(irp) else {
        k.report(
            Rule::InvalidParameter,
            "IofCallDriver",
            Some(irp as usize),
            [irp as usize, device as usize, 0, 0],
            "IoCallDriver with something that is not an IRP".into(),
        );
        return STATUS_INVALID_DEVICE_REQUEST;
    };
    if header.state.load(Ordering::Acquire) != LIVE {
        k.report(
            Rule::ForwardCompletedIrp,
            "IofCallDriver",
            Some(irp as usize),
            [irp as usize, device as usize, 0, 0],
            "IoCallDriver with an IRP that was already completed".into(),
        );
        // Reached only while unwinding (see `State::report`): the IRP may be gone.
        return STATUS_INVALID_DEVICE_REQUEST;
    }
    // The IRP by raw place throughout, never as `&mut IRP`: a reference would be invalidated
    // by the raw accesses in between (IoGetCurrentIrpStackLocation), and would claim the
    // fields IoCancelIrp writes from other processors (Cancel, CancelIrql, CancelRoutine).
    // SAFETY: the caller guarantees a live IRP it owns.
    let from = unsafe { (*irp).CurrentLocation };
    // SAFETY: as above.
    let stack_count = unsafe { (*irp).StackCount };
    if cancel_routine(irp).is_some() {
        k.report(
            Rule::ForwardWithCancelRoutine,
            "IofCallDriver",
            Some(irp as usize),
            [0x203, irp as usize, 0, 0],
            "forwarding an IRP whose cancel routine is still set".into(),
        );
    }
    if from <= stack_count && from > 0 {
        header.forwarded.fetch_or(1 << (from as u32 % 64), Ordering::Relaxed);
    }
    if from <= 1 {
        k.report(
            Rule::NoMoreStackLocations,
            "IofCallDriver",
            Some(irp as usize),
            [irp as usize, 0, 0, 0],
            format!("IRP has {stack_count} stack locations; the device stack is deeper"),
        );
        // Reached only while unwinding: there is no location to move to.
        return STATUS_INVALID_DEVICE_REQUEST;
    }
    // SAFETY: as above.
    unsafe { (*irp).CurrentLocation = from - 1 };
    let location = (from - 1) as u32;
    // SAFETY: the IRP is live.
    let s = unsafe { IoGetCurrentIrpStackLocation(irp) }.wrapping_sub(1);
    // SAFETY: as above.
    unsafe { set_current_stack_location(irp, s) };
    // SAFETY: the new location is within the IRP's stack (checked above).
    unsafe { (*s).DeviceObject = device };
    // SAFETY: as above.
    let major = unsafe { (*s).MajorFunction };
    // SAFETY: the device is live (caller's contract).
    let driver = unsafe { (*device).DriverObject };
    // SAFETY: a live device's driver object is live.
    let routine = unsafe { (*driver).MajorFunction[usize::from(major)] };
    let Some(routine) = routine else {
        k.report(
            Rule::InvalidParameter,
            "IofCallDriver",
            Some(irp as usize),
            [irp as usize, device as usize, 0, 0],
            format!("the driver has a NULL MajorFunction[{major:#x}]"),
        );
        return STATUS_INVALID_DEVICE_REQUEST;
    };
    let entry_irql = irql::get();
    if entry_irql > DISPATCH_LEVEL as KIRQL {
        k.report(
            Rule::CallDriverAtHighIrql,
            "IofCallDriver",
            Some(irp as usize),
            [0x10, irp as usize, usize::from(entry_irql), 0],
            format!("IoCallDriver at IRQL {entry_irql}"),
        );
    }
    let locks = spinlock::held_count();
    trace::irp(k, irp, trace::Event::Dispatched(major));
    header.pins.fetch_add(1, Ordering::AcqRel);
    // SAFETY: calling the driver's dispatch routine with a live device and IRP, as Windows does.
    let returned = as_driver(driver as usize, || unsafe { routine(device, irp) });
    check_return_irql(k, "dispatch routine", entry_irql, Some(irp));
    if spinlock::held_count() > locks {
        k.report(
            Rule::ReturnedHoldingSpinLock,
            "dispatch routine",
            Some(irp as usize),
            [irp as usize, 0, 0, 0],
            "the dispatch routine returned holding a spin lock".into(),
        );
    }
    check_dispatch_return(k, header, irp, location, returned);
    header.pins.fetch_sub(1, Ordering::Release);
    returned
}

/// The dispatch-return contract for the driver at `location` (spec §6.1, Verifier
/// 0x226/0x23D/0x23E/0x224).
fn check_dispatch_return(k: &State, header: &IrpSim, irp: PIRP, location: u32, returned: NTSTATUS) {
    if location == 0 || location > 63 {
        return;
    }
    let bit = 1u64 << location;
    let completed =
        header.state.load(Ordering::Acquire) == COMPLETED || header.completed_at.load(Ordering::Acquire) & bit != 0;
    let forwarded = header.forwarded.load(Ordering::Relaxed) & bit != 0;
    // The location's own mark first: completion on another thread may be passing it right now,
    // and records a mark it sees in the header *before* it clears the location, so a mark
    // cleared by then is visible in the header below.
    let stack = irp
        .cast::<u8>()
        .wrapping_add(size_of::<IRP>())
        .cast::<IO_STACK_LOCATION>()
        .wrapping_add(location as usize - 1);
    // The IRP is pinned (live or quarantined, still mapped); location `location` is within its
    // stack. Atomic (volatile is not enough): another thread's completion may be clearing it.
    let control = control_of(stack).load(Ordering::SeqCst);
    std::sync::atomic::fence(Ordering::SeqCst);
    let marked =
        control & SL_PENDING_RETURNED as u8 != 0 || header.marked_at_completion.load(Ordering::SeqCst) & bit != 0;
    let fail = |rule: Rule, code: usize, message: String| {
        k.report(
            rule,
            "dispatch routine",
            Some(irp as usize),
            [code, irp as usize, returned as u32 as usize, 0],
            message,
        );
    };
    if returned == STATUS_PENDING {
        if !marked && !forwarded {
            fail(
                Rule::PendingNotMarked,
                0x23D,
                "returned STATUS_PENDING without IoMarkIrpPending".into(),
            );
        }
    } else if marked {
        fail(
            Rule::MarkedNotPending,
            0x23E,
            format!(
                "marked the IRP pending but returned {:#x}, not STATUS_PENDING",
                returned as u32
            ),
        );
    } else if !completed && !forwarded {
        fail(
            Rule::NotCompletedNotPending,
            0x226,
            format!(
                "returned {:#x} without completing, forwarding or pending the IRP",
                returned as u32
            ),
        );
    } else if completed && !forwarded {
        let status = header.completed_status.load(Ordering::Relaxed);
        // Only when the last completion was this driver's (see `completed_location`).
        let own = header.completed_location.load(Ordering::Relaxed) == location;
        if own && status != returned {
            fail(
                Rule::ReturnStatusMismatch,
                0x224,
                format!(
                    "returned {:#x} but completed the IRP with {:#x}",
                    returned as u32, status as u32
                ),
            );
        }
    }
}

/// The dispatch routine the I/O manager installs for every major function a driver leaves
/// empty (IopInvalidDeviceRequest): completes with STATUS_INVALID_DEVICE_REQUEST.
pub(crate) unsafe extern "C-unwind" fn invalid_device_request(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: called by IofCallDriver with a live IRP the I/O manager owns (by raw place: a
    // cancel may be writing other fields).
    unsafe { set_io_status(irp, STATUS_INVALID_DEVICE_REQUEST, 0) };
    // SAFETY: completing the IRP this routine owns, once.
    unsafe { IofCompleteRequest(irp, 0) };
    STATUS_INVALID_DEVICE_REQUEST
}

/// Sets `IoStatus` by raw place.
///
/// # Safety
/// `irp` must be a live IRP the caller owns.
pub(crate) unsafe fn set_io_status(irp: PIRP, status: NTSTATUS, information: usize) {
    // SAFETY: the caller's live IRP; only the field's address is computed.
    let io_status = unsafe { &raw mut (*irp).IoStatus };
    // SAFETY: as above; only the field's address is computed.
    let field = unsafe { &raw mut (*io_status).__bindgen_anon_1.Status };
    // SAFETY: as above (drivers write the `Status` member).
    unsafe { field.write(status) };
    // SAFETY: as above.
    unsafe { (*io_status).Information = information as _ };
}

/// `IofCompleteRequest`: runs the completion routines from the current location up, and hands
/// the IRP back to its originator.
///
/// # Safety
/// Kernel routine: `irp` must be a live IRP the caller owns.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IofCompleteRequest(irp: PIRP, _boost: CCHAR) {
    let k = current();
    let Some(header) = sim(irp).filter(|_| is_known(k, irp) || is_completed(irp)) else {
        k.report(
            Rule::InvalidParameter,
            "IofCompleteRequest",
            Some(irp as usize),
            [irp as usize, 0, 0, 0],
            "completing something that is not an IRP".into(),
        );
        return;
    };
    if header.state.load(Ordering::Acquire) != LIVE {
        k.report(
            Rule::DoubleCompletion,
            "IofCompleteRequest",
            Some(irp as usize),
            [irp as usize, 0, 0, 0],
            "completing an IRP that was already completed".into(),
        );
        return;
    }
    // The IRP by raw place throughout, never as `&mut IRP`: completion routines write it
    // through their own pointer, IoGetCurrentIrpStackLocation reads it through the raw one, and
    // IoCancelIrp may write Cancel, CancelIrql and CancelRoutine from another processor.
    // SAFETY: the IRP is live (checked above) and owned by the caller.
    let stack_count = unsafe { (*irp).StackCount };
    // SAFETY: as above (and below: the IRP stays live and the caller's until `finish`).
    let current = move || unsafe { (*irp).CurrentLocation };
    if current() > stack_count {
        k.report(
            Rule::DoubleCompletion,
            "IofCompleteRequest",
            Some(irp as usize),
            [irp as usize, 0, 0, 0],
            "completing an IRP whose stack is already unwound".into(),
        );
        return;
    }
    let now = irql::get();
    if now > DISPATCH_LEVEL as KIRQL {
        k.report(
            Rule::CompleteAtHighIrql,
            "IofCompleteRequest",
            Some(irp as usize),
            [0x0E, irp as usize, usize::from(now), 0],
            format!("IoCompleteRequest at IRQL {now}"),
        );
    }
    check_no_locks(k, "IofCompleteRequest", Some(irp));
    let initial = status(irp);
    if initial == STATUS_PENDING || initial == -1 {
        k.report(
            Rule::CompletePending,
            "IofCompleteRequest",
            Some(irp as usize),
            [0x06, irp as usize, initial as u32 as usize, 0],
            format!("completing with IoStatus.Status {:#x}", initial as u32),
        );
    }
    if let Some(routine) = cancel_routine(irp) {
        k.report(
            Rule::CompleteWithCancelRoutine,
            "IofCompleteRequest",
            Some(irp as usize),
            [0x07, routine as usize, irp as usize, 0],
            "completing an IRP whose cancel routine is still set".into(),
        );
    }
    {
        // SAFETY: the current location is within the stack (checked above).
        let location = unsafe { IoGetCurrentIrpStackLocation(irp) };
        // SAFETY: as above; field reads.
        if u32::from(unsafe { (*location).MajorFunction }) == wdm_sys::IRP_MJ_POWER {
            // SAFETY: as above.
            crate::po::on_complete(k, irp, unsafe { (*location).DeviceObject }, initial);
        }
    }
    header.completed_status.store(initial, Ordering::Relaxed);
    let at = current() as u32;
    header.completed_location.store(at, Ordering::Relaxed);
    if at > 0 && at < 64 {
        header.completed_at.fetch_or(1 << at, Ordering::AcqRel);
    }
    // SAFETY: the IRP is live and its current location within the stack (checked above).
    let location = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: as above; a field read.
    let completer = unsafe { (*location).DeviceObject };
    header.completed_by.store(completer as usize, Ordering::Release);
    trace::irp(k, irp, trace::Event::Completed(initial));
    crate::sched::preempt("IofCompleteRequest");

    // Walk the stack up, as IopfCompleteRequest does.
    while current() <= stack_count {
        let here = current();
        let location = here as u32;
        // SAFETY: the current location is within the stack while CurrentLocation <= StackCount.
        let stack: PIO_STACK_LOCATION = unsafe { IoGetCurrentIrpStackLocation(irp) };
        // The location by raw place too, and its Control atomically: the dispatch-return check
        // of the driver at this location may be reading Control on another processor (see
        // `check_dispatch_return`).
        let control = control_of(stack);
        // SAFETY: as above.
        let routine = unsafe { (*stack).CompletionRoutine };
        // SAFETY: as above.
        let context = unsafe { (*stack).Context };
        let pending_returned = control.load(Ordering::SeqCst) & SL_PENDING_RETURNED as u8;
        // SAFETY: the IRP is live and the caller's.
        unsafe { (*irp).PendingReturned = pending_returned };
        if pending_returned != 0 && location < 64 {
            header.marked_at_completion.fetch_or(1 << location, Ordering::SeqCst);
            // Recorded before the location is cleared below (see check_dispatch_return).
            std::sync::atomic::fence(Ordering::SeqCst);
        }
        // Move up one location.
        // SAFETY: the IRP is live and the caller's.
        unsafe { (*irp).CurrentLocation = here + 1 };
        // SAFETY: as above.
        unsafe { set_current_stack_location(irp, stack.wrapping_add(1)) };
        let status = self::status(irp);
        let flags = control.load(Ordering::SeqCst);
        let invoke = (NT_SUCCESS(status) && flags & SL_INVOKE_ON_SUCCESS as u8 != 0)
            || (!NT_SUCCESS(status) && flags & SL_INVOKE_ON_ERROR as u8 != 0)
            || (cancel_flag(irp) && flags & SL_INVOKE_ON_CANCEL as u8 != 0);
        // Clear the finished location (IopClearStackLocation).
        // SAFETY: the finished location, within the stack; nobody else writes it now.
        unsafe { clear_location(stack) };
        control.store(0, Ordering::SeqCst);
        if let (true, Some(routine)) = (invoke, routine) {
            let top = current() > stack_count;
            let upper = if top {
                std::ptr::null_mut()
            } else {
                // SAFETY: the new current location is within the stack.
                let upper_location = unsafe { IoGetCurrentIrpStackLocation(irp) };
                // SAFETY: as above; a field read, not a reference to the location (its
                // driver's dispatch-return check may be reading Control).
                unsafe { (*upper_location).DeviceObject }
            };
            let owner = if upper.is_null() {
                0
            } else {
                // SAFETY: a device in the stack is live while it has IRPs in flight (a field
                // read: other processors use the device's queue lock word).
                unsafe { (*upper).DriverObject as usize }
            };
            let pending_returned = pending_returned != 0;
            let entry = irql::get();
            // SAFETY: calling the completion routine registered for this location.
            let result = as_driver(owner, || unsafe { routine(upper, irp, context) });
            check_return_irql(k, "completion routine", entry, Some(irp));
            if result == STATUS_MORE_PROCESSING_REQUIRED {
                trace::irp(k, irp, trace::Event::Reclaimed);
                return;
            }
            if pending_returned && !top {
                // The routine let completion continue: it must have propagated the pending mark.
                // SAFETY: the current location is within the stack.
                let upper_location = unsafe { IoGetCurrentIrpStackLocation(irp) };
                let marked = control_of(upper_location).load(Ordering::SeqCst) & SL_PENDING_RETURNED as u8 != 0;
                if !marked {
                    k.report(
                        Rule::PendingNotPropagated,
                        "completion routine",
                        Some(irp as usize),
                        [0x228, irp as usize, routine as usize, 0],
                        "Irp->PendingReturned was set but the completion routine did not call IoMarkIrpPending".into(),
                    );
                }
            }
        } else if current() <= stack_count && pending_returned != 0 {
            // No routine: propagate the pending mark upwards for the caller (IoMarkIrpPending,
            // atomically: the upper driver's dispatch-return check may be reading it).
            // SAFETY: the current location is within the stack.
            let upper_location = unsafe { IoGetCurrentIrpStackLocation(irp) };
            control_of(upper_location).fetch_or(SL_PENDING_RETURNED as u8, Ordering::SeqCst);
        }
    }
    finish(k, header, irp);
}

/// The IRP left the top of its stack: give its result to the originator and free it.
fn finish(k: &State, header: &IrpSim, irp: PIRP) {
    let completion = Completion::of(irp);
    header.state.store(COMPLETED, Ordering::Release);
    let mut table = lock(&k.irps);
    let Some(record) = table.live.get_mut(&(irp as usize)) else {
        return;
    };
    match std::mem::replace(&mut record.origin, Origin::Driver) {
        Origin::Request(waiter, finisher) => {
            drop(table);
            if let Some(f) = finisher {
                f(irp, completion);
            }
            release(k, &mut lock(&k.irps), irp);
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
