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
    CCHAR, KIRQL, KSPIN_LOCK, LIST_ENTRY, NTSTATUS, PDEVICE_OBJECT, PDRIVER_CANCEL,
    PIO_COMPLETION_ROUTINE, PIO_STACK_LOCATION, PIRP, PKSPIN_LOCK, PLIST_ENTRY, PMDL, PVOID,
    SL_INVOKE_ON_CANCEL, SL_INVOKE_ON_ERROR, SL_INVOKE_ON_SUCCESS, SL_PENDING_RETURNED, ULONG,
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

/// `IoGetCurrentIrpStackLocation`.
///
/// # Safety
/// `irp` must point to a valid IRP whose current location is within its stack.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoGetCurrentIrpStackLocation(irp: PIRP) -> PIO_STACK_LOCATION {
    // SAFETY: the caller guarantees `irp` is valid; the field is a plain pointer in a union
    // whose other member (PacketType) is only used for mini-packets, never for IRPs.
    unsafe { (*irp).Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation }
}

/// `IoGetNextIrpStackLocation`: the location the next-lower driver will see.
///
/// # Safety
/// `irp` must point to a valid IRP with at least one location below the current one.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoGetNextIrpStackLocation(irp: PIRP) -> PIO_STACK_LOCATION {
    // SAFETY: the caller guarantees there is a location below the current one, in the same
    // allocation (stack locations follow the IRP header in one block).
    unsafe { IoGetCurrentIrpStackLocation(irp).sub(1) }
}

/// `IoSetNextIrpStackLocation`: makes the next location current.
///
/// # Safety
/// `irp` must point to a valid IRP with a location below the current one.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoSetNextIrpStackLocation(irp: PIRP) {
    // SAFETY: the caller guarantees a valid IRP with a location below the current one.
    let next = unsafe { IoGetNextIrpStackLocation(irp) };
    // SAFETY: `irp` is valid and exclusively ours for the duration of this call.
    let irp = unsafe { &mut *irp };
    irp.CurrentLocation -= 1;
    irp.Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation = next;
}

/// `IoSkipCurrentIrpStackLocation`: hands the current location to the lower driver unchanged.
///
/// # Safety
/// `irp` must point to a valid IRP that this driver owns and is about to pass down.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoSkipCurrentIrpStackLocation(irp: PIRP) {
    // SAFETY: the caller guarantees `irp` is valid and owned by this driver.
    let irp = unsafe { &mut *irp };
    irp.CurrentLocation += 1;
    // SAFETY: reading the stack pointer of a valid IRP; the result may point one past the
    // stack, as in the WDK, and is only dereferenced after IoCallDriver moves it back.
    let current = unsafe { irp.Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation };
    irp.Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation = current.wrapping_add(1);
}

/// `IoCopyCurrentIrpStackLocationToNext`: copies the parameters down, without the completion
/// routine, its context, or the control flags.
///
/// # Safety
/// `irp` must point to a valid IRP with a location below the current one.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoCopyCurrentIrpStackLocationToNext(irp: PIRP) {
    // SAFETY: the caller guarantees a valid IRP with both locations in its stack.
    let (current, next) = unsafe { (IoGetCurrentIrpStackLocation(irp), IoGetNextIrpStackLocation(irp)) };
    // SAFETY: the two locations are distinct elements of the IRP's stack array.
    let (current, next) = unsafe { (&*current, &mut *next) };
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
    let next = unsafe { &mut *IoGetNextIrpStackLocation(irp) };
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
    // SAFETY: the caller guarantees a valid IRP; the current location is in its stack.
    unsafe { (*IoGetCurrentIrpStackLocation(irp)).Control |= SL_PENDING_RETURNED as u8 };
}

/// `IoSetCancelRoutine`: atomically exchanges the IRP's cancel routine and returns the old
/// one. NULL back means "none was set" or "cancellation already took it".
///
/// # Safety
/// `irp` must point to a valid IRP.
#[inline]
#[allow(non_snake_case)]
pub unsafe fn IoSetCancelRoutine(irp: PIRP, routine: PDRIVER_CANCEL) -> PDRIVER_CANCEL {
    // SAFETY: `PDRIVER_CANCEL` is `Option<fn>`, pointer-sized with NULL as `None`, so the field
    // can be viewed as an atomic pointer; every writer goes through this exchange.
    let field = unsafe { AtomicPtr::<core::ffi::c_void>::from_ptr(core::ptr::addr_of_mut!((*irp).CancelRoutine).cast()) };
    let new = routine.map_or(core::ptr::null_mut(), |f| f as *mut core::ffi::c_void);
    let old = field.swap(new, Ordering::AcqRel);
    // SAFETY: `old` was stored by this function or the I/O manager as a `PDRIVER_CANCEL`.
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
        head.write(LIST_ENTRY { Flink: head, Blink: head });
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
        entry.write(LIST_ENTRY { Flink: head, Blink: last });
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
    // SAFETY: the caller guarantees a linked entry, so its neighbours are valid.
    let (next, prev) = unsafe { ((*entry).Flink, (*entry).Blink) };
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
        unsafe { core::arch::asm!("mov cr8, {}", in(reg) u64::from(new_irql), options(nomem, nostack, preserves_flags)) };
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
        unsafe { core::arch::asm!("mov cr8, {}", in(reg) u64::from(new_irql), options(nomem, nostack, preserves_flags)) };
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
