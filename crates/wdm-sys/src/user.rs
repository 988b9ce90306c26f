//! Copying to and from user-mode buffers without a bug check on a bad address.
//!
//! C drivers touch METHOD_NEITHER buffers inside `__try`/`__except` after ProbeForRead /
//! ProbeForWrite. Rust has no structured exception handling, so the fault-tolerant part is one
//! small routine, `wdm_user_copy`, written in assembly with an SEH scope table: a fault inside
//! its copy loop is dispatched by the kernel's `__C_specific_handler` to the routine's own
//! handler, which returns STATUS_ACCESS_VIOLATION. The range check that ProbeForRead does (the
//! range must lie below `MM_USER_PROBE_ADDRESS`) is [`user_range_ok`], done before the copy, so a
//! caller cannot name kernel memory.
//!
//! On the simulator the same routine is the simulator's: it copies only within the buffers the
//! simulated caller really passed and reports an access violation for anything else.

use crate::NTSTATUS;

/// The highest user-mode address + 1 that ProbeForRead accepts on x64 (`MM_USER_PROBE_ADDRESS`).
pub const MM_USER_PROBE_ADDRESS: usize = 0x7FFF_FFFF_0000;

/// Whether `[address, address + len)` is a user-mode range (what ProbeForRead/ProbeForWrite check
/// before they touch anything). An empty range is always acceptable.
#[must_use]
pub fn user_range_ok(address: usize, len: usize) -> bool {
    len == 0
        || address
            .checked_add(len)
            .is_some_and(|end| address != 0 && end <= MM_USER_PROBE_ADDRESS)
}

#[cfg(not(wdm_backend = "sim"))]
unsafe extern "C" {
    /// Copies `len` bytes from `src` to `dst`; STATUS_SUCCESS, or STATUS_ACCESS_VIOLATION if an
    /// address faulted (part of the data may have been copied).
    ///
    /// # Safety
    /// One of the two ranges must be valid kernel memory the caller owns; the other is a user
    /// range checked with [`user_range_ok`].
    pub fn wdm_user_copy(dst: *mut u8, src: *const u8, len: usize) -> NTSTATUS;
}

#[cfg(wdm_backend = "sim")]
unsafe extern "C-unwind" {
    /// The simulator's fault-tolerant copy (see the module docs).
    ///
    /// # Safety
    /// As in the kernel.
    pub fn wdm_user_copy(dst: *mut u8, src: *const u8, len: usize) -> NTSTATUS;
}

// The routine, with its unwind data: the prologue saves RSI and RDI (non-volatile on x64), the
// scope table covers the `rep movsb` and sends faults there to `.Lwdm_user_copy_fault`
// (filter 1 = EXCEPTION_EXECUTE_HANDLER), which the kernel's unwinder enters with the frame's
// RSP, so the ordinary epilogue follows.
#[cfg(all(not(wdm_backend = "sim"), target_arch = "x86_64"))]
core::arch::global_asm!(
    ".section .text$wdm_user_copy,\"xr\"",
    ".globl wdm_user_copy",
    ".def wdm_user_copy; .scl 2; .type 32; .endef",
    ".p2align 4",
    ".seh_proc wdm_user_copy",
    "wdm_user_copy:",
    "    push rsi",
    "    .seh_pushreg rsi",
    "    push rdi",
    "    .seh_pushreg rdi",
    "    .seh_endprologue",
    "    mov rdi, rcx",
    "    mov rsi, rdx",
    "    mov rcx, r8",
    ".Lwdm_user_copy_begin:",
    "    rep movsb",
    ".Lwdm_user_copy_end:",
    "    xor eax, eax",
    ".Lwdm_user_copy_return:",
    "    pop rdi",
    "    pop rsi",
    "    ret",
    ".Lwdm_user_copy_fault:",
    "    mov eax, 0xC0000005",
    "    jmp .Lwdm_user_copy_return",
    "    .seh_handler __C_specific_handler, @except",
    "    .seh_handlerdata",
    "    .long 1",
    "    .long .Lwdm_user_copy_begin@IMGREL",
    "    .long .Lwdm_user_copy_end@IMGREL",
    "    .long 1",
    "    .long .Lwdm_user_copy_fault@IMGREL",
    "    .section .text$wdm_user_copy,\"xr\"",
    "    .seh_endproc",
);

// The exception dispatcher's handler for the scope table above, imported from the kernel.
#[cfg(wdm_backend = "kernel")]
#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "C" {
    /// `__C_specific_handler`: runs scope-table filters and handlers. Referenced by the unwind
    /// data of `wdm_user_copy` only.
    fn __C_specific_handler();
}

/// Keeps the import of `__C_specific_handler` (the assembly's unwind data names it; the linker
/// only sees Rust's uses).
#[cfg(wdm_backend = "kernel")]
#[used]
static KEEP_C_SPECIFIC_HANDLER: unsafe extern "C" fn() = __C_specific_handler;
