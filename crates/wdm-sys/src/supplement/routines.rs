//! Routines missing from the bundled headers, and the C runtime routines LLVM calls.

#[cfg(not(wdm_backend = "wdk"))]
use crate::{POOL_FLAGS, PVOID, SIZE_T, ULONG};

#[cfg(wdm_backend = "kernel")]
#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "C" {
    /// `ExAllocatePool2` (Windows 10 2004). Not in Wine 8's ntoskrnl: drivers that must load
    /// there allocate with `ExAllocatePoolWithTag`.
    pub fn ExAllocatePool2(Flags: POOL_FLAGS, NumberOfBytes: SIZE_T, Tag: ULONG) -> PVOID;
}

#[cfg(wdm_backend = "sim")]
unsafe extern "C-unwind" {
    /// `ExAllocatePool2` (Windows 10 2004), from the simulator.
    pub fn ExAllocatePool2(Flags: POOL_FLAGS, NumberOfBytes: SIZE_T, Tag: ULONG) -> PVOID;
}

/// `wdk-sys` leaves the deprecated `ExAllocatePoolWithTag` out; it is still exported by every
/// Windows version, and it is what runs under Wine.
#[cfg(wdm_backend = "wdk")]
unsafe extern "C" {
    /// `ExAllocatePoolWithTag` (deprecated in Windows 10 2004 in favour of `ExAllocatePool2`).
    pub fn ExAllocatePoolWithTag(
        PoolType: crate::POOL_TYPE,
        NumberOfBytes: crate::SIZE_T,
        Tag: crate::ULONG,
    ) -> crate::PVOID;
}

// The memory routines LLVM emits calls to. A driver links no C runtime; `ntoskrnl.exe`
// exports these, so they are imported from it.
#[cfg(wdm_backend = "kernel")]
#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "C" {
    /// `memcpy`.
    pub fn memcpy(dst: *mut core::ffi::c_void, src: *const core::ffi::c_void, n: usize) -> *mut core::ffi::c_void;
    /// `memmove`.
    pub fn memmove(dst: *mut core::ffi::c_void, src: *const core::ffi::c_void, n: usize) -> *mut core::ffi::c_void;
    /// `memset`.
    pub fn memset(dst: *mut core::ffi::c_void, c: i32, n: usize) -> *mut core::ffi::c_void;
    /// `memcmp`.
    pub fn memcmp(a: *const core::ffi::c_void, b: *const core::ffi::c_void, n: usize) -> i32;
}
