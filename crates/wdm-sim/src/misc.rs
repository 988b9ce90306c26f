//! Small runtime routines: bug checks, strings.

use wdm_sys::{PCWSTR, PUNICODE_STRING, SIZE_T, ULONG, ULONG_PTR, UNICODE_STRING};

use crate::kernel::{current, here};
use crate::report::{BugCheck, Rule};

/// `KeBugCheckEx`: the driver stops the machine; the scenario ends with its code.
///
/// Called while this processor already unwinds (from a destructor of the driver's), it is not
/// reported, like any violation then; but it cannot return either, so the unwind goes on from
/// here, and Rust aborts the process if nothing between here and that destructor catches it.
#[unsafe(no_mangle)]
pub extern "C-unwind" fn KeBugCheckEx(code: ULONG, p1: ULONG_PTR, p2: ULONG_PTR, p3: ULONG_PTR, p4: ULONG_PTR) -> ! {
    let k = current();
    let message = format!("KeBugCheckEx({code:#x}, {p1:#x}, {p2:#x}, {p3:#x}, {p4:#x})");
    let parameters = [p1 as usize, p2 as usize, p3 as usize, p4 as usize];
    k.report(Rule::DriverBugCheck, "KeBugCheckEx", None, parameters, message.clone());
    // Only reached while unwinding: a fatal report stops the scenario otherwise.
    eprintln!("wdm-sim: {message} called while unwinding (from a destructor?); it cannot return");
    let first = k
        .crash()
        .unwrap_or_else(|| here(Rule::DriverBugCheck, "KeBugCheckEx", None, parameters, message));
    std::panic::resume_unwind(Box::new(BugCheck(first)))
}

/// `RtlInitUnicodeString`.
///
/// # Safety
/// Kernel routine: `dst` writable, `src` NULL or a NUL-terminated UTF-16 string.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn RtlInitUnicodeString(dst: PUNICODE_STRING, src: PCWSTR) {
    let mut len = 0usize;
    if !src.is_null() {
        // SAFETY: the caller guarantees a NUL-terminated string.
        while unsafe { src.wrapping_add(len).read() } != 0 {
            len += 1;
        }
    }
    let bytes = (len * 2).min(0xFFFC) as u16;
    let string = UNICODE_STRING {
        Length: bytes,
        MaximumLength: if src.is_null() { 0 } else { bytes + 2 },
        Buffer: src.cast_mut(),
    };
    // SAFETY: `dst` is writable (caller's contract).
    unsafe { dst.write(string) };
}

/// `RtlFreeUnicodeString`: frees a string's buffer that the system allocated from the pool
/// (IoRegisterDeviceInterface's SymbolicLinkName, ...) and empties the string. A NULL buffer is
/// left alone.
///
/// # Safety
/// Kernel routine: `s` must be a valid UNICODE_STRING whose buffer is NULL or a pool block.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn RtlFreeUnicodeString(s: PUNICODE_STRING) {
    if s.is_null() {
        return;
    }
    // SAFETY: a valid UNICODE_STRING (caller's contract).
    let buffer = unsafe { (*s).Buffer };
    if !buffer.is_null() {
        crate::pool::ExFreePoolWithTag(buffer.cast(), 0);
    }
    // SAFETY: as above.
    unsafe { s.write(UNICODE_STRING::default()) };
}

/// `RtlCompareMemory`: the number of leading bytes that match.
///
/// # Safety
/// Kernel routine: both blocks readable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn RtlCompareMemory(
    a: *const core::ffi::c_void,
    b: *const core::ffi::c_void,
    len: SIZE_T,
) -> SIZE_T {
    // SAFETY: the caller guarantees `len` readable bytes in each block.
    let a = unsafe { std::slice::from_raw_parts(a.cast::<u8>(), len as usize) };
    // SAFETY: as above.
    let b = unsafe { std::slice::from_raw_parts(b.cast::<u8>(), len as usize) };
    a.iter().zip(b).take_while(|(x, y)| x == y).count() as SIZE_T
}
