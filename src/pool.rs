//! The framework's own allocations, from non-paged pool on every backend, and fallible.
//!
//! Timers, work items, queues, the deferred-work registry and the driver's state live in pool
//! blocks the framework allocates with `ExAllocatePoolWithTag` (tag [`POOL_TAG`]) and frees at
//! drop. Two reasons for not using `alloc::boxed::Box`: a failed allocation becomes
//! STATUS_INSUFFICIENT_RESOURCES instead of a bug check (Driver Verifier's low-resources
//! simulation fails allocations at random), and on the simulator the blocks go through the
//! simulated pool, so they are counted as the driver's, reported if leaked, and can be made to
//! fail (`wdm_sim::Kernel::fail_allocation`).

use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use wdm_sys::ntddk::{ExAllocatePoolWithTag, ExFreePoolWithTag};

use crate::{POOL_TAG, Status};

/// Pool blocks are 16-byte aligned on x64.
const POOL_ALIGN: usize = 16;

/// Allocates an uninitialized block for a `T` (a dangling pointer for a zero-sized `T`).
pub(crate) fn allocate<T>() -> Result<NonNull<T>, Status> {
    const { assert!(align_of::<T>() <= POOL_ALIGN, "pool blocks are 16-byte aligned") };
    if size_of::<T>() == 0 {
        return Ok(NonNull::dangling());
    }
    // SAFETY: any size is valid; NULL on failure.
    let block = unsafe { ExAllocatePoolWithTag(wdm_sys::NON_PAGED_POOL_NX, size_of::<T>() as _, POOL_TAG) };
    NonNull::new(block.cast()).ok_or(Status::INSUFFICIENT_RESOURCES)
}

/// Frees a block from [`allocate`] (its contents already dropped or never written).
///
/// # Safety
/// `block` came from `allocate::<T>` and is not used any more.
pub(crate) unsafe fn free<T>(block: NonNull<T>) {
    if size_of::<T>() != 0 {
        // SAFETY: a block from ExAllocatePoolWithTag with this tag (caller).
        unsafe { ExFreePoolWithTag(block.as_ptr().cast(), POOL_TAG) };
    }
}

/// A `T` in its own pool block: an owning pointer, like `Box`, whose allocation can fail.
pub(crate) struct PoolBox<T> {
    ptr: NonNull<T>,
    _owns: PhantomData<T>,
}

// SAFETY: owning, like Box: sending or sharing it sends or shares the `T`.
unsafe impl<T: Send> Send for PoolBox<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for PoolBox<T> {}

impl<T> PoolBox<T> {
    /// Moves `value` into a new block; STATUS_INSUFFICIENT_RESOURCES if the pool has none.
    pub(crate) fn try_new(value: T) -> Result<Self, Status> {
        let ptr = allocate::<T>()?;
        // SAFETY: a fresh block, sized and aligned for a T.
        unsafe { ptr.as_ptr().write(value) };
        Ok(Self {
            ptr,
            _owns: PhantomData,
        })
    }

    /// The block's address, with the box's own provenance (reads and writes: a pointer made
    /// from `&*box` may only read, and freeing through one is undefined behaviour).
    pub(crate) fn as_non_null(&self) -> NonNull<T> {
        self.ptr
    }

    /// Gives up ownership: the block lives until [`from_raw`](Self::from_raw) takes it back.
    pub(crate) fn into_raw(self) -> NonNull<T> {
        let ptr = self.ptr;
        core::mem::forget(self);
        ptr
    }

    /// # Safety
    /// `ptr` came from [`into_raw`](Self::into_raw) and is not owned elsewhere.
    pub(crate) unsafe fn from_raw(ptr: NonNull<T>) -> Self {
        Self {
            ptr,
            _owns: PhantomData,
        }
    }
}

impl<T> Deref for PoolBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: initialized in `try_new`, owned by this box.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> DerefMut for PoolBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and `&mut self` is exclusive.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for PoolBox<T> {
    fn drop(&mut self) {
        // SAFETY: initialized and owned; dropped once, here.
        unsafe { core::ptr::drop_in_place(self.ptr.as_ptr()) };
        // SAFETY: from `allocate`, contents dropped above.
        unsafe { free(self.ptr) };
    }
}
