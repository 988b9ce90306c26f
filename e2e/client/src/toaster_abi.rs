//! The toaster's user-mode interface (samples/toaster/src/lib.rs), restated: the client is a
//! Windows program and cannot depend on the driver crate (a `no_std` kernel crate on `wdm`).
//! `samples/toaster/tests/client_abi.rs` includes this file and checks every value against
//! the driver's own (`toaster::GUID_DEVINTERFACE_TOASTER`, `CAPACITY`, the IOCTL codes, and
//! `Stats::to_bytes`), so the two cannot drift apart.

/// GUID_DEVINTERFACE_TOASTER, `{781EF630-72B2-11D2-B852-00C04FAD5171}`, as a `u128`.
pub const GUID_DEVINTERFACE_TOASTER: u128 = 0x781e_f630_72b2_11d2_b852_00c0_4fad_5171;

/// How many bytes the toaster keeps; a longer write fails with STATUS_INVALID_BUFFER_SIZE.
pub const CAPACITY: usize = 256;

/// CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS).
pub const IOCTL_TOASTER_GET_STATS: u32 = (0x22 << 16) | (0x800 << 2);

/// CTL_CODE(FILE_DEVICE_UNKNOWN, 0x801, METHOD_BUFFERED, FILE_ANY_ACCESS).
pub const IOCTL_TOASTER_WAIT: u32 = (0x22 << 16) | (0x801 << 2);

/// What IOCTL_TOASTER_GET_STATS returns: seven little-endian `u32`s in this order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub starts: u32,
    pub stops: u32,
    pub d0_entries: u32,
    pub d0_exits: u32,
    pub reads: u32,
    pub writes: u32,
    pub waits: u32,
}

impl Stats {
    /// The size of the encoding.
    pub const SIZE: usize = 28;

    /// Decodes the driver's bytes; `None` for a buffer of another size.
    pub fn decode(bytes: &[u8]) -> Option<Stats> {
        if bytes.len() != Self::SIZE {
            return None;
        }
        let at = |i: usize| u32::from_le_bytes([bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]]);
        Some(Stats {
            starts: at(0),
            stops: at(1),
            d0_entries: at(2),
            d0_exits: at(3),
            reads: at(4),
            writes: at(5),
            waits: at(6),
        })
    }
}
