//! Debug output through DbgPrintEx.

use core::fmt::{self, Write};

/// Formats into a fixed buffer (no allocation: printing works at any IRQL and when the pool
/// is exhausted). Text past the buffer is cut.
pub struct Buffer {
    bytes: [u8; 512],
    len: usize,
}

impl Buffer {
    const fn new() -> Self {
        Self {
            bytes: [0; 512],
            len: 0,
        }
    }
}

impl Write for Buffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.bytes.len() - 1 - self.len;
        let n = s.len().min(room);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Prints `args` with DbgPrintEx (component `DPFLTR_IHVDRIVER_ID`, level `DPFLTR_INFO_LEVEL`).
/// Use [`kprint!`](crate::kprint).
pub fn print(args: fmt::Arguments<'_>) {
    let mut b = Buffer::new();
    // Writing to `Buffer` never fails.
    let _ = b.write_fmt(args);
    // NUL-terminate; `write_str` always leaves room for it.
    b.bytes[b.len] = 0;
    #[allow(clippy::unnecessary_cast)] // the enum is signed in wdk-sys
    let component = wdm_sys::_DPFLTR_TYPE::DPFLTR_IHVDRIVER_ID as u32;
    // SAFETY: "%s" with one NUL-terminated string argument.
    unsafe {
        wdm_sys::ntddk::DbgPrintEx(component, wdm_sys::DPFLTR_INFO_LEVEL, c"%s".as_ptr(), b.bytes.as_ptr());
    }
}

/// Prints to the kernel debugger (DbgPrintEx), formatted like `format!`.
///
/// ```
/// wdm::kprint!("opened {} times\n", 3);
/// ```
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => {
        $crate::print::print(::core::format_args!($($arg)*))
    };
}
