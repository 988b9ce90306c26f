//! GUIDs, as device interface classes name them.

use wdm_sys::GUID;

/// A GUID (a device interface class, for [`PnpOptions::interface`](super::PnpOptions::interface)).
///
/// Written as the 128-bit number its usual text form spells, so
/// `{781EF630-72B2-11D2-B852-00C04FAD5171}` is `Guid::from_u128(0x781ef630_72b2_11d2_b852_00c04fad5171)`.
///
/// ```
/// use wdm::pnp::Guid;
///
/// const TOASTER: Guid = Guid::from_u128(0x781e_f630_72b2_11d2_b852_00c0_4fad_5171);
/// assert_eq!(TOASTER.data1(), 0x781e_f630);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guid {
    value: u128,
}

impl Guid {
    /// The GUID whose text form is the hexadecimal digits of `value`.
    ///
    /// ```
    /// use wdm::pnp::Guid;
    ///
    /// const G: Guid = Guid::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
    /// ```
    pub const fn from_u128(value: u128) -> Self {
        Self { value }
    }

    /// The first field (`Data1`).
    ///
    /// ```
    /// use wdm::pnp::Guid;
    ///
    /// assert_eq!(Guid::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677).data1(), 0x0123_4567);
    /// ```
    #[must_use]
    pub const fn data1(self) -> u32 {
        (self.value >> 96) as u32
    }

    /// The kernel's layout of it.
    ///
    /// ```
    /// use wdm::pnp::Guid;
    ///
    /// let raw = Guid::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677).to_raw();
    /// assert_eq!((raw.Data2, raw.Data3, raw.Data4[0], raw.Data4[7]), (0x89ab, 0xcdef, 0x00, 0x77));
    /// ```
    #[must_use]
    pub const fn to_raw(self) -> GUID {
        let v = self.value;
        let tail = (v as u64).to_be_bytes();
        GUID {
            Data1: (v >> 96) as u32,
            Data2: (v >> 80) as u16,
            Data3: (v >> 64) as u16,
            Data4: tail,
        }
    }
}
