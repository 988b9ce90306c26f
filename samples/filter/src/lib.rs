//! An upper filter over the toaster: it counts the requests that pass through it, per major
//! function, and passes every one down untouched.
//!
//! A filter must survive every PnP sequence of the device below it: START, stop and restart,
//! cancelled stops and removals, orderly and surprise removal. It writes none of that: the
//! framework forwards each PnP and power IRP, detaches and deletes the filter's device at
//! REMOVE, and holds the remove lock on every request. The filter copies the buffering method,
//! power-pageable flag, device type and characteristics of the device below (the framework does
//! it for [`Role::Filter`]).
//!
//! [`IOCTL_FILTER_GET_COUNTS`] is the one request the filter answers itself: the counts, as
//! little-endian `u32`s indexed by major function ([`COUNTED`] of them). Everything else,
//! including IOCTLs it does not know, goes to the toaster.

#![no_std]

use core::sync::atomic::{AtomicU32, Ordering};

use wdm::pnp::{NewDevice, PnpDevice, Role, Started};
use wdm::{
    Dispatch, FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, Irp, LowerDevice, Method, Outcome, Status, Unlocked, ctl_code,
    kprint,
};

/// Returns the counts: [`COUNTED`] little-endian `u32`s, one per major function.
pub const IOCTL_FILTER_GET_COUNTS: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x900, Method::Buffered, FILE_ANY_ACCESS);

/// The major functions counted: IRP_MJ_CREATE (0) to IRP_MJ_DEVICE_CONTROL (14).
pub const COUNTED: usize = 15;

/// One filter device (attached on a toaster's FDO).
pub struct Filter {
    lower: LowerDevice<Filter>,
    counts: [AtomicU32; COUNTED],
    starts: AtomicU32,
}

impl PnpDevice for Filter {
    const ROLE: Role = Role::Filter;
    const DISPATCH: Dispatch<Self> = Dispatch::new()
        .create(Self::pass)
        .close(Self::pass)
        .cleanup(Self::pass)
        .read(Self::pass)
        .write(Self::pass)
        .device_control(Self::device_control);

    fn add_device(device: &NewDevice<'_, Self>) -> Result<Self, Status> {
        kprint!("filter: AddDevice\n");
        Ok(Filter {
            lower: device.lower(),
            counts: [const { AtomicU32::new(0) }; COUNTED],
            starts: AtomicU32::new(0),
        })
    }

    fn start(&self, _started: &Started<'_>, _cx: &mut Unlocked) -> Result<(), Status> {
        self.starts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl Filter {
    /// How many requests of `major` passed through.
    #[must_use]
    pub fn count(&self, major: u32) -> u32 {
        self.counts.get(major as usize).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn note(&self, irp: &Irp<'_>) {
        if let Some(c) = self.counts.get(usize::from(irp.major_function())) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn pass<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        self.note(&irp);
        irp.forward(&self.lower, cx)
    }

    fn device_control<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        if irp.ioctl().map(|i| i.code()) != Some(IOCTL_FILTER_GET_COUNTS) {
            return self.pass(irp, cx);
        }
        let mut bytes = [0u8; COUNTED * 4];
        for (chunk, c) in bytes.chunks_exact_mut(4).zip(&self.counts) {
            chunk.copy_from_slice(&c.load(Ordering::Relaxed).to_le_bytes());
        }
        let result = irp
            .ioctl()
            .ok_or(Status::INVALID_DEVICE_REQUEST)
            .and_then(|i| i.buffered())
            .and_then(|mut b| {
                let out = b.output();
                if out.len() < bytes.len() {
                    return Err(Status::BUFFER_TOO_SMALL);
                }
                out[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            });
        match result {
            Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
            Err(status) => irp.complete(status, cx).into(),
        }
    }
}

/// Decodes [`IOCTL_FILTER_GET_COUNTS`]'s output; `None` for a buffer of another size.
#[must_use]
pub fn counts_from_bytes(bytes: &[u8]) -> Option<[u32; COUNTED]> {
    if bytes.len() != COUNTED * 4 {
        return None;
    }
    let mut out = [0u32; COUNTED];
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *o = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    Some(out)
}
