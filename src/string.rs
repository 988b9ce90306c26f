//! UTF-16 strings for object names, built at compile time.

use wdm_sys::UNICODE_STRING;

/// A NUL-terminated UTF-16 string with `'static` storage, as the object manager wants names.
///
/// Made by [`utf16!`](crate::utf16), which encodes a string literal at compile time.
///
/// ```
/// use wdm::{U16CStr, utf16};
///
/// const NAME: U16CStr = utf16!("\\Device\\Sample");
/// assert_eq!(NAME.as_units().len(), "\\Device\\Sample".len());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct U16CStr {
    units: &'static [u16],
}

impl U16CStr {
    /// Wraps encoded units; the last one must be the only NUL.
    ///
    /// # Panics
    /// At compile time (it is used in constants) when `units` is not NUL-terminated, has an
    /// interior NUL, or is longer than a UNICODE_STRING can describe.
    ///
    /// ```
    /// use wdm::U16CStr;
    ///
    /// const HI: U16CStr = U16CStr::from_units(&[0x48, 0x69, 0]);
    /// assert_eq!(HI.as_units(), &[0x48, 0x69]);
    /// ```
    pub const fn from_units(units: &'static [u16]) -> Self {
        assert!(
            !units.is_empty() && units[units.len() - 1] == 0,
            "missing NUL terminator"
        );
        let mut i = 0;
        while i + 1 < units.len() {
            assert!(units[i] != 0, "interior NUL");
            i += 1;
        }
        assert!(
            units.len() * 2 <= u16::MAX as usize,
            "longer than a UNICODE_STRING can hold"
        );
        Self { units }
    }

    /// The string whose units start at `start` and run to the first NUL.
    ///
    /// # Safety
    /// `start` must be the first unit of a `U16CStr` (as [`as_ptr`](Self::as_ptr) gives).
    pub(crate) unsafe fn from_ptr(start: *const u16) -> Self {
        let mut len = 0;
        loop {
            // SAFETY: a U16CStr is NUL-terminated, so the scan stays inside it.
            let unit = unsafe { start.wrapping_add(len).read() };
            if unit == 0 {
                break;
            }
            len += 1;
        }
        // SAFETY: `len + 1` units, up to and including the NUL, all in the 'static string.
        let units = unsafe { core::slice::from_raw_parts(start, len + 1) };
        Self { units }
    }

    /// The first unit: a thin, NUL-terminated pointer (never NULL).
    pub(crate) fn as_ptr(&self) -> *const u16 {
        self.units.as_ptr()
    }

    /// The units, without the terminator.
    ///
    /// ```
    /// use wdm::utf16;
    ///
    /// assert_eq!(utf16!("ab").as_units(), &[0x61, 0x62]); // no terminator
    /// ```
    #[must_use]
    pub const fn as_units(&self) -> &'static [u16] {
        self.units.split_at(self.units.len() - 1).0
    }

    /// A UNICODE_STRING describing this string. The kernel only reads through it.
    ///
    /// ```
    /// use wdm::utf16;
    ///
    /// let s = utf16!("abc").to_unicode_string();
    /// assert_eq!((s.Length, s.MaximumLength), (6, 8)); // bytes, without and with the NUL
    /// ```
    #[must_use]
    pub fn to_unicode_string(&self) -> UNICODE_STRING {
        let bytes = (self.as_units().len() * 2) as u16;
        UNICODE_STRING {
            Length: bytes,
            MaximumLength: bytes + 2,
            Buffer: self.units.as_ptr().cast_mut(),
        }
    }
}

/// The number of UTF-16 units `s` encodes to, plus one for the NUL.
#[doc(hidden)]
pub const fn utf16_len(s: &str) -> usize {
    let b = s.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        let (c, len) = decode(b, i);
        n += if c >= 0x10000 { 2 } else { 1 };
        i += len;
    }
    n + 1
}

/// `s` encoded as UTF-16 with a NUL terminator; `N` must be [`utf16_len`]`(s)`.
#[doc(hidden)]
pub const fn utf16<const N: usize>(s: &str) -> [u16; N] {
    let b = s.as_bytes();
    let mut out = [0u16; N];
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        let (c, len) = decode(b, i);
        if c >= 0x10000 {
            let v = c - 0x10000;
            out[n] = 0xD800 | (v >> 10) as u16;
            out[n + 1] = 0xDC00 | (v & 0x3FF) as u16;
            n += 2;
        } else {
            out[n] = c as u16;
            n += 1;
        }
        i += len;
    }
    assert!(n + 1 == N, "length mismatch");
    out
}

/// Decodes the UTF-8 sequence at `b[i]` (valid: it comes from a `str`).
const fn decode(b: &[u8], i: usize) -> (u32, usize) {
    let x = b[i] as u32;
    if x < 0x80 {
        (x, 1)
    } else if x < 0xE0 {
        (((x & 0x1F) << 6) | (b[i + 1] as u32 & 0x3F), 2)
    } else if x < 0xF0 {
        (
            ((x & 0x0F) << 12) | ((b[i + 1] as u32 & 0x3F) << 6) | (b[i + 2] as u32 & 0x3F),
            3,
        )
    } else {
        (
            ((x & 0x07) << 18)
                | ((b[i + 1] as u32 & 0x3F) << 12)
                | ((b[i + 2] as u32 & 0x3F) << 6)
                | (b[i + 3] as u32 & 0x3F),
            4,
        )
    }
}

/// A [`U16CStr`] from a string literal, encoded at compile time.
///
/// ```
/// let name = wdm::utf16!("\\Device\\Minimal");
/// assert_eq!(name.as_units().len(), 15);
/// assert_eq!(name.to_unicode_string().Length, 30);
/// ```
#[macro_export]
macro_rules! utf16 {
    ($s:expr) => {{
        const S: &str = $s;
        const N: usize = $crate::string::utf16_len(S);
        const UNITS: [u16; N] = $crate::string::utf16::<N>(S);
        const STR: $crate::U16CStr = $crate::U16CStr::from_units(&UNITS);
        STR
    }};
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_ascii_bmp_and_astral() {
        let s = crate::utf16!("A\u{e9}\u{20ac}\u{1F600}");
        assert_eq!(s.as_units(), &[0x41, 0xE9, 0x20AC, 0xD83D, 0xDE00]);
        let u = s.to_unicode_string();
        assert_eq!((u.Length, u.MaximumLength), (10, 12));
    }

    #[test]
    fn matches_std_encoding() {
        let s = crate::utf16!("\\DosDevices\\Gr\u{fc}\u{df}e");
        let std: Vec<u16> = "\\DosDevices\\Gr\u{fc}\u{df}e".encode_utf16().collect();
        assert_eq!(s.as_units(), std.as_slice());
    }
}
