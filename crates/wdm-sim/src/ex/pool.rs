//! Pool allocation with tags: `ExAllocatePoolWithTag`, `ExAllocatePool2`, `ExFreePoolWithTag`.
//!
//! Every allocation is recorded with its size, tag and the driver that made it, so a free of an
//! unknown address is caught (0xC4/0x10) and whatever a driver still holds at unload is
//! reported as a leak (0xC4/0x62). Allocations are 16-byte aligned, like the x64 pool.
//! `ExAllocatePoolWithTag` memory is filled with 0xCD (it is not zeroed on Windows either);
//! `ExAllocatePool2` zeroes unless asked not to.

use std::alloc::Layout;
use std::collections::HashMap;

use wdm_sys::{POOL_FLAG_UNINITIALIZED, POOL_FLAGS, POOL_TYPE, PVOID, SIZE_T, ULONG};

use crate::kernel::{CURRENT_DRIVER, current, lock};
use crate::report::Rule;

/// One live allocation.
#[derive(Clone, Debug)]
pub struct Allocation {
    /// Its address.
    pub address: usize,
    /// Bytes requested.
    pub size: usize,
    /// The pool tag, as the four characters a debugger shows.
    pub tag: String,
    /// The DRIVER_OBJECT of the driver whose code allocated it (0: none).
    pub(crate) driver: usize,
}

#[derive(Default)]
pub(crate) struct Pool {
    live: HashMap<usize, (Allocation, Layout)>,
    pub allocations: u64,
    pub frees: u64,
    /// Low-resources simulation: how many more allocations succeed before one fails (once).
    pub fail_after: Option<u64>,
    /// Allocations failed on purpose so far.
    pub failed: u64,
}

/// The tag as text: the bytes in memory order, as `!pool` shows them.
pub(crate) fn tag_text(tag: ULONG) -> String {
    tag.to_le_bytes()
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect()
}

const ALIGN: usize = 16;

/// Whether the low-resources simulation fails this allocation (counting it either way). Pool
/// allocations, device objects and symbolic links all draw from it, as they do from the pool on
/// Windows.
pub(crate) fn low_resources_fails(k: &crate::kernel::State) -> bool {
    let mut pool = lock(&k.pool);
    match pool.fail_after {
        Some(0) => {
            pool.fail_after = None;
            pool.failed += 1;
            true
        }
        Some(n) => {
            pool.fail_after = Some(n - 1);
            false
        }
        None => false,
    }
}

fn allocate(size: usize, tag: ULONG, fill: Option<u8>) -> PVOID {
    let k = current();
    crate::po::note_allocation(k, size, tag);
    if low_resources_fails(k) {
        return std::ptr::null_mut();
    }
    let Ok(layout) = Layout::from_size_align(size.max(1), ALIGN) else {
        return std::ptr::null_mut();
    };
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { std::alloc::alloc(layout) };
    if !p.is_null() {
        // SAFETY: a fresh block of `layout.size()` bytes.
        unsafe { p.write_bytes(fill.unwrap_or(0), layout.size()) };
    }
    if p.is_null() {
        return std::ptr::null_mut();
    }
    let alloc = Allocation {
        address: p as usize,
        size,
        tag: tag_text(tag),
        driver: CURRENT_DRIVER.with(std::cell::Cell::get),
    };
    let mut pool = lock(&k.pool);
    pool.allocations += 1;
    pool.live.insert(p as usize, (alloc, layout));
    p.cast()
}

/// `ExAllocatePoolWithTag`.
#[unsafe(no_mangle)]
pub extern "C-unwind" fn ExAllocatePoolWithTag(_pool_type: POOL_TYPE, size: SIZE_T, tag: ULONG) -> PVOID {
    allocate(size as usize, tag, Some(0xCD))
}

/// `ExAllocatePool2` (Windows 10 2004): zeroed unless `POOL_FLAG_UNINITIALIZED`.
#[unsafe(no_mangle)]
pub extern "C-unwind" fn ExAllocatePool2(flags: POOL_FLAGS, size: SIZE_T, tag: ULONG) -> PVOID {
    let fill = (flags & POOL_FLAG_UNINITIALIZED != 0).then_some(0xCD);
    allocate(size as usize, tag, fill)
}

/// `ExFreePoolWithTag`.
#[unsafe(no_mangle)]
pub extern "C-unwind" fn ExFreePoolWithTag(p: PVOID, tag: ULONG) {
    let k = current();
    let entry = lock(&k.pool).live.remove(&(p as usize));
    let Some((alloc, layout)) = entry else {
        k.report(
            Rule::BadPoolFree,
            "ExFreePoolWithTag",
            None,
            [0x10, p as usize, 0, 0],
            format!("{p:p} was not returned by a pool allocation, or was already freed"),
        );
        return;
    };
    lock(&k.pool).frees += 1;
    lock(&k.remlocks).forget_range(p as usize, p as usize + alloc.size);
    if tag != 0 && tag_text(tag) != alloc.tag {
        k.report(
            Rule::PoolTagMismatch,
            "ExFreePoolWithTag",
            None,
            [p as usize, tag as usize, 0, 0],
            format!(
                "{p:p} was allocated with tag '{}' and freed with '{}'",
                alloc.tag,
                tag_text(tag)
            ),
        );
    }
    // SAFETY: the block was allocated by `allocate` with exactly this layout, and removing it
    // from the table above makes this the only free.
    unsafe { std::alloc::dealloc(p.cast(), layout) };
}

impl Pool {
    /// The allocations `driver` still holds.
    pub(crate) fn held_by(&self, driver: usize) -> Vec<Allocation> {
        let mut v: Vec<Allocation> = self
            .live
            .values()
            .filter(|(a, _)| a.driver == driver)
            .map(|(a, _)| a.clone())
            .collect();
        v.sort_by_key(|a| a.address);
        v
    }

    /// Every live allocation.
    pub(crate) fn live(&self) -> Vec<Allocation> {
        let mut v: Vec<Allocation> = self.live.values().map(|(a, _)| a.clone()).collect();
        v.sort_by_key(|a| a.address);
        v
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for (p, (_, layout)) in self.live.drain() {
            // SAFETY: every entry was allocated by `allocate` with its layout and not freed.
            unsafe { std::alloc::dealloc(p as *mut u8, layout) };
        }
    }
}
