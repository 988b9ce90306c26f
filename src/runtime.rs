//! What a `no_std` driver image needs besides its code: a global allocator, a panic handler,
//! and the `_fltused` symbol the MSVC linker wants when floating point appears.
//!
//! Bundled (`kernel`) backend: the framework's own, over the pool (`ExAllocatePoolWithTag`,
//! non-paged, non-executable) and `KeBugCheckEx`. WDK backend: `wdk-alloc` and `wdk-panic`.
//! The simulator backend uses the host's `std`.

/// The pool tag of every allocation made through the global allocator: `wdmR` in a debugger.
///
/// ```
/// assert_eq!(&wdm::POOL_TAG.to_le_bytes(), b"wdmR"); // `!poolused` / `!poolfind wdmR` in WinDbg
/// ```
pub const POOL_TAG: u32 = u32::from_le_bytes(*b"wdmR");

/// The bug-check code a panic stops the machine with ("WDMP"); parameter 1 points to the
/// panic's file name (NUL-terminated, possibly cut), parameter 2 is the line, 3 the column.
///
/// ```
/// assert_eq!(wdm::PANIC_BUGCHECK_CODE, 0x5744_4D50); // "WDMP" in the bug-check screen
/// ```
pub const PANIC_BUGCHECK_CODE: u32 = u32::from_le_bytes(*b"PMDW");

#[cfg(wdm_backend = "kernel")]
mod kernel {
    use core::alloc::{GlobalAlloc, Layout};

    use wdm_sys::ntddk::{ExAllocatePoolWithTag, ExFreePoolWithTag, KeBugCheckEx};

    use super::{PANIC_BUGCHECK_CODE, POOL_TAG};

    /// Pool blocks are 16-byte aligned on x64; larger alignments over-allocate and keep the
    /// block's address just below the aligned pointer.
    const POOL_ALIGN: usize = 16;

    struct PoolAllocator;

    // SAFETY: blocks come from the pool, are at least `layout.size()` bytes, aligned as asked,
    // and are freed with the tag they were allocated with.
    unsafe impl GlobalAlloc for PoolAllocator {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if layout.align() <= POOL_ALIGN {
                // SAFETY: any size is valid; NULL is returned on failure.
                return unsafe { ExAllocatePoolWithTag(crate::sys::NON_PAGED_POOL_NX, layout.size() as _, POOL_TAG) }
                    .cast();
            }
            let total = layout.size() + layout.align() + size_of::<usize>();
            // SAFETY: as above.
            let block =
                unsafe { ExAllocatePoolWithTag(crate::sys::NON_PAGED_POOL_NX, total as _, POOL_TAG) }.cast::<u8>();
            if block.is_null() {
                return block;
            }
            let start = block.wrapping_add(size_of::<usize>());
            let aligned = start.wrapping_add(start.align_offset(layout.align()));
            // SAFETY: `aligned - 8` is inside the block (at or after `block`) and 8-aligned.
            unsafe { aligned.cast::<usize>().wrapping_sub(1).write(block as usize) };
            aligned
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            let block = if layout.align() <= POOL_ALIGN {
                ptr
            } else {
                // SAFETY: written by `alloc` just below the aligned pointer.
                (unsafe { ptr.cast::<usize>().wrapping_sub(1).read() }) as *mut u8
            };
            // SAFETY: a block from ExAllocatePoolWithTag with the same tag.
            unsafe { ExFreePoolWithTag(block.cast(), POOL_TAG) };
        }
    }

    #[global_allocator]
    static ALLOCATOR: PoolAllocator = PoolAllocator;

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        // A panic in a driver stops the machine: there is no one to unwind to.
        let mut file = [0u8; 64];
        let (line, column) = info.location().map_or((0, 0), |l| {
            let name = l.file().as_bytes();
            let n = name.len().min(file.len() - 1);
            file[..n].copy_from_slice(&name[name.len() - n..]);
            (l.line(), l.column())
        });
        // SAFETY: KeBugCheckEx never returns; the parameters are plain values.
        unsafe { KeBugCheckEx(PANIC_BUGCHECK_CODE, file.as_ptr() as _, line as _, column as _, 0) }
    }

    /// The MSVC linker's marker that floating point is used; a driver has no CRT to define it.
    #[used]
    #[unsafe(no_mangle)]
    static _fltused: i32 = 0;
}

#[cfg(wdm_backend = "wdk")]
mod wdk {
    extern crate wdk_panic;

    #[global_allocator]
    static ALLOCATOR: wdk_alloc::WdkAllocator = wdk_alloc::WdkAllocator;
}
