//! Memory descriptor lists. User and system space are one address space in the simulator, so
//! "mapping" an MDL returns the address it describes; what is modelled is the MDL's state
//! (locked, mapped, from non-paged pool) and its ownership (allocated MDLs must be freed).

use std::collections::HashMap;
use std::sync::Mutex;

use wdm_sys::{
    BOOLEAN, KPROCESSOR_MODE, LOCK_OPERATION, MDL, MDL_MAPPED_TO_SYSTEM_VA, MDL_PAGES_LOCKED,
    MDL_SOURCE_IS_NONPAGED_POOL, MEMORY_CACHING_TYPE, MM_PAGE_PRIORITY, PIRP, PMDL, PVOID, ULONG,
};

use crate::kernel::{CURRENT_DRIVER, current, lock};
use crate::report::Rule;

/// MDLs drivers allocated with IoAllocateMdl: address -> allocating driver.
#[derive(Default)]
pub(crate) struct Mdls {
    pub live: Mutex<HashMap<usize, (Box<MDL>, usize)>>,
}

impl Mdls {
    /// MDLs `driver` allocated and has not freed.
    pub(crate) fn held_by(&self, driver: usize) -> usize {
        lock(&self.live).values().filter(|(_, d)| *d == driver).count()
    }
}

fn address(mdl: &MDL) -> PVOID {
    mdl.StartVa.cast::<u8>().wrapping_add(mdl.ByteOffset as usize).cast()
}

/// `IoAllocateMdl`: an MDL describing `length` bytes at `va` (not yet locked or mapped).
/// Chaining to an IRP (`irp` non-NULL) is not modelled; the MDL is returned unattached.
#[unsafe(no_mangle)]
pub extern "C-unwind" fn IoAllocateMdl(
    va: PVOID,
    length: ULONG,
    _secondary: BOOLEAN,
    _quota: BOOLEAN,
    _irp: PIRP,
) -> PMDL {
    let k = current();
    let page = va as usize & !0xFFF;
    let mut mdl = Box::new(MDL {
        Next: std::ptr::null_mut(),
        Size: size_of::<MDL>() as i16,
        MdlFlags: 0,
        Process: std::ptr::null_mut(),
        MappedSystemVa: std::ptr::null_mut(),
        StartVa: page as PVOID,
        ByteCount: length,
        ByteOffset: (va as usize - page) as ULONG,
    });
    let p: PMDL = &raw mut *mdl;
    let driver = CURRENT_DRIVER.with(std::cell::Cell::get);
    lock(&k.mdls.live).insert(p as usize, (mdl, driver));
    p
}

/// `IoFreeMdl`.
#[unsafe(no_mangle)]
pub extern "C-unwind" fn IoFreeMdl(mdl: PMDL) {
    let k = current();
    if lock(&k.mdls.live).remove(&(mdl as usize)).is_none() {
        k.report(
            Rule::InvalidParameter,
            "IoFreeMdl",
            None,
            [mdl as usize, 0, 0, 0],
            format!("{mdl:p} is not an MDL from IoAllocateMdl (or was freed already)"),
        );
    }
}

/// `MmBuildMdlForNonPagedPool`: the MDL describes non-paged memory, mapped where it is.
///
/// # Safety
/// Kernel routine: a valid MDL.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn MmBuildMdlForNonPagedPool(mdl: PMDL) {
    // SAFETY: the caller's valid MDL.
    let m = unsafe { &mut *mdl };
    m.MappedSystemVa = address(m);
    m.MdlFlags |= MDL_SOURCE_IS_NONPAGED_POOL as i16;
}

/// `MmProbeAndLockPages`: marks the pages locked. (A bad address would raise an exception in
/// the caller's `__try`; the simulator's buffers are always valid.)
///
/// # Safety
/// Kernel routine: a valid MDL.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn MmProbeAndLockPages(mdl: PMDL, _mode: KPROCESSOR_MODE, _op: LOCK_OPERATION) {
    // SAFETY: the caller's valid MDL.
    unsafe { (*mdl).MdlFlags |= MDL_PAGES_LOCKED as i16 };
}

/// `MmUnlockPages`: unlocks (and unmaps) the pages.
///
/// # Safety
/// Kernel routine: a valid, locked MDL.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn MmUnlockPages(mdl: PMDL) {
    let k = current();
    // SAFETY: the caller's valid MDL.
    let m = unsafe { &mut *mdl };
    if m.MdlFlags & MDL_PAGES_LOCKED as i16 == 0 {
        k.report(
            Rule::InvalidParameter,
            "MmUnlockPages",
            None,
            [mdl as usize, 0, 0, 0],
            "unlocking an MDL whose pages are not locked".into(),
        );
    }
    m.MdlFlags &= !((MDL_PAGES_LOCKED | MDL_MAPPED_TO_SYSTEM_VA) as i16);
}

/// `MmMapLockedPagesSpecifyCache`: maps a locked MDL to system space.
///
/// # Safety
/// Kernel routine: a valid, locked MDL.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn MmMapLockedPagesSpecifyCache(
    mdl: PMDL,
    _mode: KPROCESSOR_MODE,
    _cache: MEMORY_CACHING_TYPE,
    _base: PVOID,
    _bug_check_on_failure: ULONG,
    _priority: MM_PAGE_PRIORITY,
) -> PVOID {
    let k = current();
    // SAFETY: the caller's valid MDL.
    let m = unsafe { &mut *mdl };
    if m.MdlFlags & (MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL) as i16 == 0 {
        k.report(
            Rule::InvalidParameter,
            "MmMapLockedPagesSpecifyCache",
            None,
            [mdl as usize, 0, 0, 0],
            "mapping an MDL whose pages are not locked".into(),
        );
    }
    m.MappedSystemVa = address(m);
    m.MdlFlags |= MDL_MAPPED_TO_SYSTEM_VA as i16;
    m.MappedSystemVa
}
