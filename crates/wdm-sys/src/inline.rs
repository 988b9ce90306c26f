//! The WDK's macros and inline routines, re-implemented in Rust.
//!
//! `wdm.h` defines these as macros or `FORCEINLINE` functions, so neither bindgen nor an import
//! library provides them (windows-drivers-rs issue #119). They are written here once, against the
//! same field names on every backend; the IRQL routines are the only ones whose body depends on
//! the backend (CR8 in the kernel, the simulator's per-processor IRQL on the host).
//!
//! All of them are `unsafe` for the reason the C versions are dangerous: they dereference the
//! raw pointers they are given. Each states what the caller must guarantee.

use core::sync::atomic::{AtomicPtr, Ordering};

use crate::ntddk::{IofCallDriver, IofCompleteRequest};
use crate::{
    CCHAR, KIRQL, KSPIN_LOCK, LIST_ENTRY, NTSTATUS, PDEVICE_OBJECT, PDRIVER_CANCEL, PIO_COMPLETION_ROUTINE,
    PIO_REMOVE_LOCK, PIO_STACK_LOCATION, PIRP, PKSPIN_LOCK, PLIST_ENTRY, PMDL, PVOID, SL_INVOKE_ON_CANCEL,
    SL_INVOKE_ON_ERROR, SL_INVOKE_ON_SUCCESS, SL_PENDING_RETURNED, ULONG,
};

/// `CTL_CODE`: builds an I/O control code from its four fields.
#[must_use]
#[allow(non_snake_case)]
pub const fn CTL_CODE(DeviceType: ULONG, Function: ULONG, Method: ULONG, Access: ULONG) -> ULONG {
    (DeviceType << 16) | (Access << 14) | (Function << 2) | Method
}

/// `DEVICE_TYPE_FROM_CTL_CODE`.
#[must_use]
#[allow(non_snake_case)]
pub const fn DEVICE_TYPE_FROM_CTL_CODE(code: ULONG) -> ULONG {
    (code & 0xffff_0000) >> 16
}

/// `METHOD_FROM_CTL_CODE`: the buffering method (`METHOD_BUFFERED` ... `METHOD_NEITHER`).
#[must_use]
#[allow(non_snake_case)]
pub const fn METHOD_FROM_CTL_CODE(code: ULONG) -> ULONG {
    code & 3
}

/// `IoGetFunctionCodeFromCtlCode`: the function field of a control code.
#[must_use]
#[allow(non_snake_case)]
pub const fn IoGetFunctionCodeFromCtlCode(code: ULONG) -> ULONG {
    (code >> 2) & 0x0fff
}

/// The address of the IRP's current-location pointer (`Tail.Overlay.CurrentStackLocation`).
///
/// # Safety
/// `irp` must point to a valid IRP.
#[inline]
unsafe fn stack_slot(irp: PIRP) -> *mut PIO_STACK_LOCATION {
    // SAFETY: the caller guarantees a valid IRP; this computes a field address and reads
    // nothing (the union member is the one every IRP uses; PacketType is for mini-packets).
    unsafe {
        &raw mut (*irp)
            .Tail
            .Overlay
            .__bindgen_anon_2
            .__bindgen_anon_1
            .CurrentStackLocation
    }
}

/// `IoGetCurrentIrpStackLocation`.
///
/// # Safety
/// `irp` must point to a valid IRP.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoGetCurrentIrpStackLocation(irp: PIRP) -> PIO_STACK_LOCATION {
    // SAFETY: the caller guarantees a valid IRP.
    let slot = unsafe { stack_slot(irp) };
    // SAFETY: `slot` points into the valid IRP.
    unsafe { slot.read() }
}

/// `IoGetNextIrpStackLocation`: the location the next-lower driver will see.
///
/// # Safety
/// `irp` must point to a valid IRP with at least one location below the current one.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoGetNextIrpStackLocation(irp: PIRP) -> PIO_STACK_LOCATION {
    // SAFETY: the caller guarantees a valid IRP.
    let current = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // Locations precede the current one in the same allocation; the caller guarantees there
    // is one below.
    current.wrapping_sub(1)
}

/// `IoSetNextIrpStackLocation`: makes the next location current.
///
/// # Safety
/// `irp` must point to a valid IRP with a location below the current one.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoSetNextIrpStackLocation(irp: PIRP) {
    // SAFETY: the caller guarantees a valid IRP.
    let next = unsafe { IoGetNextIrpStackLocation(irp) };
    // Raw places, no reference to the whole IRP: other processors may write its cancel fields
    // meanwhile (IoCancelIrp). Only the IRP's owner changes these two.
    // SAFETY: `irp` is valid and its owner is the caller.
    unsafe { (*irp).CurrentLocation -= 1 };
    // SAFETY: as above.
    let slot = unsafe { stack_slot(irp) };
    // SAFETY: the slot is in the valid IRP.
    unsafe { slot.write(next) };
}

/// `IoSkipCurrentIrpStackLocation`: hands the current location to the lower driver unchanged.
///
/// # Safety
/// `irp` must point to a valid IRP that this driver owns and is about to pass down.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoSkipCurrentIrpStackLocation(irp: PIRP) {
    // SAFETY: the caller guarantees a valid IRP.
    let current = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // Raw places, as in `IoSetNextIrpStackLocation`.
    // SAFETY: `irp` is valid and its owner is the caller.
    unsafe { (*irp).CurrentLocation += 1 };
    // As in the WDK, this may point one past the stack; IoCallDriver moves it back before
    // anything dereferences it.
    // SAFETY: as above.
    let slot = unsafe { stack_slot(irp) };
    // SAFETY: the slot is in the valid IRP.
    unsafe { slot.write(current.wrapping_add(1)) };
}

/// `IoCopyCurrentIrpStackLocationToNext`: copies the parameters down, without the completion
/// routine, its context, or the control flags.
///
/// # Safety
/// `irp` must point to a valid IRP with a location below the current one.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoCopyCurrentIrpStackLocationToNext(irp: PIRP) {
    // SAFETY: the caller guarantees a valid IRP.
    let current = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: the location is within the valid IRP's stack.
    let current = unsafe { &*current };
    // SAFETY: the caller guarantees a valid IRP with a next location.
    let next = unsafe { IoGetNextIrpStackLocation(irp) };
    // SAFETY: the next location is in the stack and distinct from the current one.
    let next = unsafe { &mut *next };
    next.MajorFunction = current.MajorFunction;
    next.MinorFunction = current.MinorFunction;
    next.Flags = current.Flags;
    next.Parameters = current.Parameters;
    next.FileObject = current.FileObject;
    next.CompletionRoutine = None;
    next.Context = core::ptr::null_mut();
    next.Control = 0;
}

/// `IoSetCompletionRoutine`: registers `routine` in the next-lower location, to be called
/// when the lower driver completes the IRP with the selected outcomes.
///
/// # Safety
/// `irp` must point to a valid IRP with a location below the current one.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoSetCompletionRoutine(
    irp: PIRP,
    routine: PIO_COMPLETION_ROUTINE,
    context: PVOID,
    invoke_on_success: bool,
    invoke_on_error: bool,
    invoke_on_cancel: bool,
) {
    // SAFETY: the caller guarantees a valid IRP with a next location.
    let next = unsafe { IoGetNextIrpStackLocation(irp) };
    // SAFETY: as above; the location is within the IRP's stack.
    let next = unsafe { &mut *next };
    next.CompletionRoutine = routine;
    next.Context = context;
    let mut control = 0;
    if invoke_on_success {
        control |= SL_INVOKE_ON_SUCCESS;
    }
    if invoke_on_error {
        control |= SL_INVOKE_ON_ERROR;
    }
    if invoke_on_cancel {
        control |= SL_INVOKE_ON_CANCEL;
    }
    next.Control = control as u8;
}

/// `IoMarkIrpPending`: records in the current location that the dispatch routine will
/// return `STATUS_PENDING`.
///
/// # Safety
/// `irp` must point to a valid IRP owned by the caller.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoMarkIrpPending(irp: PIRP) {
    // SAFETY: the caller guarantees a valid IRP.
    let current = unsafe { IoGetCurrentIrpStackLocation(irp) };
    // SAFETY: the current location is within the IRP's stack.
    unsafe { (*current).Control |= SL_PENDING_RETURNED as u8 };
}

/// `IoSetCancelRoutine`: atomically exchanges the IRP's cancel routine and returns the old
/// one. NULL back means "none was set" or "cancellation already took it".
///
/// # Safety
/// `irp` must point to a valid IRP.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoSetCancelRoutine(irp: PIRP, routine: PDRIVER_CANCEL) -> PDRIVER_CANCEL {
    // SAFETY: the caller guarantees a valid IRP; this only computes the field's address.
    let field = unsafe { &raw mut (*irp).CancelRoutine }.cast::<*mut core::ffi::c_void>();
    // SAFETY: `PDRIVER_CANCEL` is `Option<fn>`: pointer-sized, pointer-aligned, NULL is
    // `None`; every writer of the field goes through an atomic exchange like this one.
    let field = unsafe { AtomicPtr::<core::ffi::c_void>::from_ptr(field) };
    let new = routine.map_or(core::ptr::null_mut(), |f| f as *mut core::ffi::c_void);
    let old = field.swap(new, Ordering::AcqRel);
    // SAFETY: `old` was stored as a `PDRIVER_CANCEL` (by this function or the I/O manager).
    unsafe { core::mem::transmute::<*mut core::ffi::c_void, PDRIVER_CANCEL>(old) }
}

/// `IoCompleteRequest`: the macro form of `IofCompleteRequest`.
///
/// # Safety
/// As `IofCompleteRequest`: the caller owns `irp`, and must not touch it afterwards.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoCompleteRequest(irp: PIRP, priority_boost: CCHAR) {
    // SAFETY: forwarded contract.
    unsafe { IofCompleteRequest(irp, priority_boost) }
}

/// `IoCallDriver`: the macro form of `IofCallDriver`.
///
/// # Safety
/// As `IofCallDriver`: the caller owns `irp` and has set up the next location.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoCallDriver(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: forwarded contract.
    unsafe { IofCallDriver(device, irp) }
}

/// `MmGetSystemAddressForMdlSafe`: a system-space address for the MDL's buffer, mapping it
/// if needed; NULL when it cannot be mapped.
///
/// # Safety
/// `mdl` must point to a valid, locked MDL.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn MmGetSystemAddressForMdlSafe(mdl: PMDL, priority: ULONG) -> PVOID {
    // SAFETY: the caller guarantees a valid MDL.
    let m = unsafe { &*mdl };
    if (m.MdlFlags as u32) & (crate::MDL_MAPPED_TO_SYSTEM_VA | crate::MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
        m.MappedSystemVa
    } else {
        // SAFETY: the caller guarantees a locked MDL, which is what the routine maps.
        unsafe {
            crate::ntddk::MmMapLockedPagesSpecifyCache(
                mdl,
                crate::_MODE::KernelMode as _,
                crate::_MEMORY_CACHING_TYPE::MmCached,
                core::ptr::null_mut(),
                0,
                priority as _,
            )
        }
    }
}

/// `MmGetMdlByteCount`: the length of the buffer the MDL describes.
///
/// # Safety
/// `mdl` must point to a valid MDL.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn MmGetMdlByteCount(mdl: PMDL) -> ULONG {
    // SAFETY: the caller guarantees a valid MDL.
    unsafe { (*mdl).ByteCount }
}

/// `MmGetMdlVirtualAddress`: the (original) virtual address of the buffer.
///
/// # Safety
/// `mdl` must point to a valid MDL.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn MmGetMdlVirtualAddress(mdl: PMDL) -> PVOID {
    // SAFETY: the caller guarantees a valid MDL.
    let m = unsafe { &*mdl };
    m.StartVa.cast::<u8>().wrapping_add(m.ByteOffset as usize).cast()
}

/// `KeInitializeSpinLock`.
///
/// # Safety
/// `lock` must be valid for writes and not held.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn KeInitializeSpinLock(lock: PKSPIN_LOCK) {
    // SAFETY: the caller guarantees a writable, unheld lock.
    unsafe { lock.write(0 as KSPIN_LOCK) }
}

/// `KeAcquireSpinLock` (x64): raises to DISPATCH_LEVEL and acquires; returns the old IRQL.
///
/// # Safety
/// As `KeAcquireSpinLockRaiseToDpc`: a valid lock, caller at IRQL <= DISPATCH_LEVEL.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn KeAcquireSpinLock(lock: PKSPIN_LOCK) -> KIRQL {
    // SAFETY: forwarded contract.
    unsafe { crate::ntddk::KeAcquireSpinLockRaiseToDpc(lock) }
}

/// `InitializeListHead`.
///
/// # Safety
/// `head` must be valid for writes.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn InitializeListHead(head: PLIST_ENTRY) {
    // SAFETY: the caller guarantees a writable entry.
    unsafe {
        head.write(LIST_ENTRY {
            Flink: head,
            Blink: head,
        });
    }
}

/// `IsListEmpty`.
///
/// # Safety
/// `head` must be an initialized list head.
#[inline]
#[must_use]
#[allow(non_snake_case)]
pub unsafe fn IsListEmpty(head: PLIST_ENTRY) -> bool {
    // SAFETY: the caller guarantees an initialized head.
    unsafe { core::ptr::eq((*head).Flink, head) }
}

/// `InsertTailList`.
///
/// # Safety
/// `head` must be an initialized list head and `entry` a writable entry in no list.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn InsertTailList(head: PLIST_ENTRY, entry: PLIST_ENTRY) {
    // SAFETY: the caller guarantees an initialized head, so its Blink is a valid entry.
    let last = unsafe { (*head).Blink };
    // SAFETY: `entry`, `last` and `head` are valid entries of (or joining) one list.
    unsafe {
        entry.write(LIST_ENTRY {
            Flink: head,
            Blink: last,
        });
    }
    // SAFETY: as above.
    unsafe { (*last).Flink = entry };
    // SAFETY: as above.
    unsafe { (*head).Blink = entry };
}

/// `RemoveEntryList`: unlinks `entry`; returns whether the list is now empty.
///
/// # Safety
/// `entry` must be linked into a valid list.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn RemoveEntryList(entry: PLIST_ENTRY) -> bool {
    // SAFETY: the caller guarantees a linked entry, so it and its neighbours are valid.
    let LIST_ENTRY {
        Flink: next,
        Blink: prev,
    } = unsafe { entry.read() };
    // SAFETY: as above.
    unsafe { (*prev).Flink = next };
    // SAFETY: as above.
    unsafe { (*next).Blink = prev };
    core::ptr::eq(next, prev)
}

/// `RemoveHeadList`: unlinks and returns the first entry (the head itself if empty).
///
/// # Safety
/// `head` must be an initialized list head.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn RemoveHeadList(head: PLIST_ENTRY) -> PLIST_ENTRY {
    // SAFETY: the caller guarantees an initialized head.
    let first = unsafe { (*head).Flink };
    // SAFETY: `first` is linked into the list (or is the head, which unlinks to itself).
    unsafe { RemoveEntryList(first) };
    first
}

pub use irql::*;

/// IRQL: on x64 the WDK reads and writes CR8 inline; the simulator keeps one IRQL per
/// simulated processor and exports the same three routines.
#[cfg(wdm_backend = "sim")]
mod irql {
    use crate::KIRQL;

    unsafe extern "C-unwind" {
        /// The current processor's IRQL.
        pub safe fn KeGetCurrentIrql() -> KIRQL;
        /// Raises to `new_irql` and returns the previous IRQL.
        ///
        /// # Safety
        /// `new_irql` must not be below the current IRQL.
        pub fn KfRaiseIrql(new_irql: KIRQL) -> KIRQL;
        /// Lowers to `new_irql` (a value a matching raise returned).
        ///
        /// # Safety
        /// `new_irql` must not be above the current IRQL.
        pub fn KeLowerIrql(new_irql: KIRQL);
    }
}

#[cfg(not(wdm_backend = "sim"))]
mod irql {
    use crate::KIRQL;

    /// `KeGetCurrentIrql` (x64): reads CR8.
    #[inline]
    #[must_use]
    #[allow(non_snake_case)]
    pub fn KeGetCurrentIrql() -> KIRQL {
        let cr8: u64;
        // SAFETY: reading CR8 has no side effects; kernel code runs at CPL 0.
        unsafe { core::arch::asm!("mov {}, cr8", out(reg) cr8, options(nomem, nostack, preserves_flags)) };
        cr8 as KIRQL
    }

    /// `KfRaiseIrql` (x64): writes CR8, returns the previous IRQL.
    ///
    /// # Safety
    /// `new_irql` must not be below the current IRQL.
    #[inline]
    #[allow(non_snake_case)]
    pub unsafe fn KfRaiseIrql(new_irql: KIRQL) -> KIRQL {
        let old = KeGetCurrentIrql();
        // SAFETY: the caller guarantees a raise; CR8 is the task priority register.
        unsafe {
            core::arch::asm!("mov cr8, {}", in(reg) u64::from(new_irql), options(nomem, nostack, preserves_flags))
        };
        old
    }

    /// `KeLowerIrql` (x64): writes CR8.
    ///
    /// # Safety
    /// `new_irql` must not be above the current IRQL.
    #[inline]
    #[allow(non_snake_case)]
    pub unsafe fn KeLowerIrql(new_irql: KIRQL) {
        // SAFETY: the caller guarantees a lower; CR8 is the task priority register.
        unsafe {
            core::arch::asm!("mov cr8, {}", in(reg) u64::from(new_irql), options(nomem, nostack, preserves_flags))
        };
    }
}

/// `KeRaiseIrqlToDpcLevel`.
///
/// # Safety
/// The caller must be at IRQL <= DISPATCH_LEVEL.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn KeRaiseIrqlToDpcLevel() -> KIRQL {
    // SAFETY: forwarded contract.
    unsafe { KfRaiseIrql(crate::DISPATCH_LEVEL as KIRQL) }
}

// Tests drive the routines through raw pointers step by step; one SAFETY comment per scenario
// reads better than one per dereference.
/// `IoInitializeRemoveLock`: `IoInitializeRemoveLockEx` with `sizeof(IO_REMOVE_LOCK)` (the
/// free layout in these bindings, as a free build of the WDK has it).
///
/// # Safety
/// `lock` must point to writable memory for an IO_REMOVE_LOCK that lives as long as it is used
/// (normally in a device extension); PASSIVE_LEVEL.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoInitializeRemoveLock(
    lock: PIO_REMOVE_LOCK,
    allocate_tag: ULONG,
    max_locked_minutes: ULONG,
    high_watermark: ULONG,
) {
    // SAFETY: the caller's contract.
    unsafe {
        crate::ntddk::IoInitializeRemoveLockEx(
            lock,
            allocate_tag,
            max_locked_minutes,
            high_watermark,
            core::mem::size_of::<crate::IO_REMOVE_LOCK>() as ULONG,
        )
    }
}

/// `IoAcquireRemoveLock`: `IoAcquireRemoveLockEx` with the caller's source line in a debug
/// build (the WDK passes `__FILE__, __LINE__` when `DBG`, `"", 1` otherwise; the file is always
/// `""` here: Rust has no NUL-terminated file name for the caller).
///
/// # Safety
/// `lock` must be an initialized remove lock; IRQL <= DISPATCH_LEVEL.
#[inline]
#[track_caller]
#[allow(non_snake_case)]
pub unsafe fn IoAcquireRemoveLock(lock: PIO_REMOVE_LOCK, tag: PVOID) -> NTSTATUS {
    let line = if cfg!(debug_assertions) {
        core::panic::Location::caller().line()
    } else {
        1
    };
    // SAFETY: the caller's contract; the file name is a static empty C string.
    unsafe {
        crate::ntddk::IoAcquireRemoveLockEx(
            lock,
            tag,
            c"".as_ptr(),
            line,
            core::mem::size_of::<crate::IO_REMOVE_LOCK>() as ULONG,
        )
    }
}

/// `IoReleaseRemoveLock`: `IoReleaseRemoveLockEx` with `sizeof(IO_REMOVE_LOCK)`.
///
/// # Safety
/// `lock` must be an initialized remove lock with an acquisition made with `tag`;
/// IRQL <= DISPATCH_LEVEL.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoReleaseRemoveLock(lock: PIO_REMOVE_LOCK, tag: PVOID) {
    // SAFETY: the caller's contract.
    unsafe { crate::ntddk::IoReleaseRemoveLockEx(lock, tag, core::mem::size_of::<crate::IO_REMOVE_LOCK>() as ULONG) }
}

/// `IoReleaseRemoveLockAndWait`: `IoReleaseRemoveLockAndWaitEx` with `sizeof(IO_REMOVE_LOCK)`.
///
/// # Safety
/// `lock` must be an initialized remove lock with an acquisition made with `tag`, called once,
/// while handling IRP_MN_REMOVE_DEVICE, at PASSIVE_LEVEL.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoReleaseRemoveLockAndWait(lock: PIO_REMOVE_LOCK, tag: PVOID) {
    // SAFETY: the caller's contract.
    unsafe {
        crate::ntddk::IoReleaseRemoveLockAndWaitEx(lock, tag, core::mem::size_of::<crate::IO_REMOVE_LOCK>() as ULONG)
    }
}

#[cfg(test)]
#[allow(clippy::multiple_unsafe_ops_per_block)]
mod tests {
    extern crate std;
    use std::boxed::Box;
    use std::vec::Vec;

    use super::*;
    use crate::{IO_STACK_LOCATION, IRP};

    /// An IRP with `n` stack locations laid out as IoAllocateIrp does: header, then the
    /// locations; the current location is one past the last.
    #[repr(C, align(16))]
    struct TestIrp<const N: usize> {
        irp: IRP,
        stack: [IO_STACK_LOCATION; N],
    }

    fn irp<const N: usize>() -> Box<TestIrp<N>> {
        let mut t: Box<TestIrp<N>> = Box::new(TestIrp {
            irp: IRP::default(),
            stack: [IO_STACK_LOCATION::default(); N],
        });
        t.irp.StackCount = N as i8;
        t.irp.CurrentLocation = N as i8 + 1;
        let end = t.stack.as_mut_ptr().wrapping_add(N);
        t.irp
            .Tail
            .Overlay
            .__bindgen_anon_2
            .__bindgen_anon_1
            .CurrentStackLocation = end;
        t
    }

    #[test]
    fn ctl_code_matches_the_wdk_macro() {
        assert_eq!(
            CTL_CODE(
                crate::FILE_DEVICE_UNKNOWN,
                0x800,
                crate::METHOD_BUFFERED,
                crate::FILE_ANY_ACCESS
            ),
            0x0022_2000
        );
        let sioctl = CTL_CODE(40000, 0x901, crate::METHOD_IN_DIRECT, crate::FILE_ANY_ACCESS);
        assert_eq!(sioctl, 0x9C40_2405);
        assert_eq!(METHOD_FROM_CTL_CODE(sioctl), crate::METHOD_IN_DIRECT);
        assert_eq!(DEVICE_TYPE_FROM_CTL_CODE(sioctl), 40000);
        assert_eq!(IoGetFunctionCodeFromCtlCode(sioctl), 0x901);
        let rw = CTL_CODE(
            0x22,
            1,
            crate::METHOD_NEITHER,
            crate::FILE_READ_DATA | crate::FILE_WRITE_DATA,
        );
        assert_eq!(rw, 0x0022_C007);
    }

    #[test]
    fn stack_locations_walk_down_and_back() {
        let mut t = irp::<3>();
        let p: PIRP = &raw mut t.irp;
        // SAFETY: `p` is a valid IRP with three locations for all calls below.
        unsafe {
            let base = (*p)
                .Tail
                .Overlay
                .__bindgen_anon_2
                .__bindgen_anon_1
                .CurrentStackLocation
                .sub(3);
            assert_eq!(IoGetNextIrpStackLocation(p), base.add(2));
            IoSetNextIrpStackLocation(p);
            assert_eq!((*p).CurrentLocation, 3);
            assert_eq!(IoGetCurrentIrpStackLocation(p), base.add(2));
            IoSetNextIrpStackLocation(p);
            assert_eq!(IoGetCurrentIrpStackLocation(p), base.add(1));
            IoSkipCurrentIrpStackLocation(p);
            assert_eq!((*p).CurrentLocation, 3);
            assert_eq!(IoGetCurrentIrpStackLocation(p), base.add(2));
        }
    }

    #[test]
    fn copy_to_next_leaves_out_the_completion_routine_and_control() {
        unsafe extern "C-unwind" fn done(_: crate::PDEVICE_OBJECT, _: PIRP, _: PVOID) -> NTSTATUS {
            0
        }
        let mut t = irp::<2>();
        let p: PIRP = &raw mut t.irp;
        // SAFETY: a valid IRP with two locations.
        unsafe {
            IoSetNextIrpStackLocation(p);
            let cur = &mut *IoGetCurrentIrpStackLocation(p);
            cur.MajorFunction = crate::IRP_MJ_READ as u8;
            cur.Parameters.Read.Length = 512;
            cur.Control = SL_PENDING_RETURNED as u8;
            cur.CompletionRoutine = Some(done);
            IoCopyCurrentIrpStackLocationToNext(p);
            let next = &*IoGetNextIrpStackLocation(p);
            assert_eq!(next.MajorFunction, crate::IRP_MJ_READ as u8);
            assert_eq!(next.Parameters.Read.Length, 512);
            assert_eq!(next.Control, 0);
            assert!(next.CompletionRoutine.is_none());
        }
    }

    #[test]
    fn completion_routine_goes_in_the_next_location_with_its_flags() {
        unsafe extern "C-unwind" fn done(_: crate::PDEVICE_OBJECT, _: PIRP, _: PVOID) -> NTSTATUS {
            0
        }
        let mut t = irp::<2>();
        let p: PIRP = &raw mut t.irp;
        let mut ctx = 7u32;
        // SAFETY: a valid IRP with two locations.
        unsafe {
            IoSetNextIrpStackLocation(p);
            IoSetCompletionRoutine(p, Some(done), (&raw mut ctx).cast(), true, false, true);
            let next = &*IoGetNextIrpStackLocation(p);
            assert_eq!(u32::from(next.Control), SL_INVOKE_ON_SUCCESS | SL_INVOKE_ON_CANCEL);
            assert_eq!(next.Context, (&raw mut ctx).cast());
            assert!(next.CompletionRoutine.is_some());
            assert_eq!((*IoGetCurrentIrpStackLocation(p)).Control, 0);
        }
    }

    #[test]
    fn mark_pending_sets_the_current_location_flag() {
        let mut t = irp::<1>();
        let p: PIRP = &raw mut t.irp;
        // SAFETY: a valid IRP with one location.
        unsafe {
            IoSetNextIrpStackLocation(p);
            IoMarkIrpPending(p);
            assert_eq!(
                u32::from((*IoGetCurrentIrpStackLocation(p)).Control),
                SL_PENDING_RETURNED
            );
        }
    }

    #[test]
    fn set_cancel_routine_is_an_exchange_that_one_racer_wins() {
        unsafe extern "C-unwind" fn cancel(_: crate::PDEVICE_OBJECT, _: PIRP) {}
        let mut t = irp::<1>();
        let p: PIRP = &raw mut t.irp;
        // SAFETY: a valid IRP.
        unsafe {
            assert!(IoSetCancelRoutine(p, Some(cancel)).is_none());
            assert!(IoSetCancelRoutine(p, Some(cancel)).is_some());
        }
        // Eight threads take the routine away at once; exactly one gets it.
        for _ in 0..200 {
            // SAFETY: a valid IRP.
            unsafe { IoSetCancelRoutine(p, Some(cancel)) };
            let addr = p as usize;
            let winners: usize = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    // SAFETY: the IRP outlives the scope; the exchange is atomic.
                    .map(|_| s.spawn(move || usize::from(unsafe { IoSetCancelRoutine(addr as PIRP, None) }.is_some())))
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum()
            });
            assert_eq!(winners, 1);
        }
    }

    #[test]
    fn list_routines_keep_fifo_order() {
        let mut head = LIST_ENTRY::default();
        let mut entries = [LIST_ENTRY::default(); 3];
        let h: PLIST_ENTRY = &raw mut head;
        // SAFETY: all entries outlive the list and each is inserted once.
        unsafe {
            InitializeListHead(h);
            assert!(IsListEmpty(h));
            for e in &mut entries {
                InsertTailList(h, e);
            }
            assert_eq!(RemoveHeadList(h), &raw mut entries[0]);
            assert!(!RemoveEntryList(&raw mut entries[2]));
            assert_eq!(RemoveHeadList(h), &raw mut entries[1]);
            assert!(IsListEmpty(h));
        }
    }

    #[test]
    fn nt_status_classes() {
        assert!(crate::NT_SUCCESS(crate::STATUS_PENDING));
        assert!(!crate::NT_SUCCESS(crate::STATUS_CANCELLED));
        assert!(crate::NT_ERROR(crate::STATUS_CANCELLED));
        assert!(crate::NT_WARNING(crate::STATUS_BUFFER_OVERFLOW));
        assert!(crate::NT_INFORMATION(0x4000_0000));
    }
}
