//! `__chkstk`, for drivers built without the WDK.
//!
//! The compiler calls `__chkstk` (with the frame size in RAX) in the prologue of every function
//! whose stack frame is larger than a page, so that each page of the new frame is touched in
//! order: a kernel stack ends in a guard page, and skipping over it would write past the stack
//! silently instead of faulting there. The WDK supplies the routine from its kernel runtime
//! libraries; ntoskrnl.exe does not export it, and a `.sys` linked by rust-lld without the WDK
//! has no other source. A driver whose state is larger than a page builds it on the stack in
//! `init` (the state is returned by value), so any such driver needs it.
//!
//! The routine probes from the caller's stack pointer down, one page at a time, then the last
//! partial page; it preserves every register and leaves RSP to the caller, as the compiler
//! expects.

#[cfg(all(wdm_backend = "kernel", target_arch = "x86_64"))]
core::arch::global_asm!(
    ".section .text$wdm_chkstk,\"xr\"",
    ".globl __chkstk",
    ".def __chkstk; .scl 2; .type 32; .endef",
    ".p2align 4",
    "__chkstk:",
    "    push rcx",
    "    push rax",
    // The caller's RSP at the call: above the two pushes and the return address.
    "    lea rcx, [rsp + 24]",
    "    cmp rax, 0x1000",
    "    jb 2f",
    "1:",
    "    sub rcx, 0x1000",
    "    test qword ptr [rcx], rcx",
    "    sub rax, 0x1000",
    "    cmp rax, 0x1000",
    "    ja 1b",
    "2:",
    "    sub rcx, rax",
    "    test qword ptr [rcx], rcx",
    "    pop rax",
    "    pop rcx",
    "    ret",
);
