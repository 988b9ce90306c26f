//! Constants and types missing from the bundled headers.

#[cfg(not(wdm_backend = "wdk"))]
#[allow(non_camel_case_types)]
mod pool {
    /// `POOL_FLAGS` (Windows 10 2004): the flags of `ExAllocatePool2`.
    pub type POOL_FLAGS = u64;
    /// Charge the allocation to the current process's quota.
    pub const POOL_FLAG_USE_QUOTA: POOL_FLAGS = 0x0000_0000_0000_0001;
    /// Do not zero the allocation.
    pub const POOL_FLAG_UNINITIALIZED: POOL_FLAGS = 0x0000_0000_0000_0002;
    /// Cache-aligned allocation.
    pub const POOL_FLAG_CACHE_ALIGNED: POOL_FLAGS = 0x0000_0000_0000_0008;
    /// Raise an exception instead of returning NULL.
    pub const POOL_FLAG_RAISE_ON_FAILURE: POOL_FLAGS = 0x0000_0000_0000_0020;
    /// Non-paged, non-executable pool.
    pub const POOL_FLAG_NON_PAGED: POOL_FLAGS = 0x0000_0000_0000_0040;
    /// Paged pool.
    pub const POOL_FLAG_PAGED: POOL_FLAGS = 0x0000_0000_0000_0100;
}
#[cfg(not(wdm_backend = "wdk"))]
pub use pool::*;

/// `NonPagedPoolNx` (Windows 8): non-paged, non-executable pool. The ReactOS headers only
/// know `NonPagedPool`; the value is the same in every WDK.
pub const NON_PAGED_POOL_NX: crate::POOL_TYPE = 512;
