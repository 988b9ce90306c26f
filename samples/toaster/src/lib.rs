//! The toaster: a root-enumerated PnP function driver with the behaviour of the WDK's toaster
//! function driver (`general/toaster/func`), on the framework's PnP state machine.
//!
//! What it shows:
//! - AddDevice through [`PnpDevice::add_device`]: the framework creates, attaches and
//!   initialises the FDO; the driver only makes its state.
//! - START, QUERY_STOP/STOP, QUERY_REMOVE, SURPRISE_REMOVAL and REMOVE as hooks
//!   ([`PnpDevice::start`], [`PnpDevice::stop`], ...): the driver never forwards, completes,
//!   detaches or deletes anything for them.
//! - A device interface ([`GUID_DEVINTERFACE_TOASTER`]), which user mode opens the device by.
//! - I/O: a write stores up to [`CAPACITY`] bytes, a read returns them, and
//!   [`IOCTL_TOASTER_WAIT`] waits (pended, cancelable) for the next write. The framework holds
//!   reads and writes while the device is stopped or out of D0 and dispatches them afterwards;
//!   pended waits are failed at surprise removal and REMOVE.
//! - Power: D0 at START, D3 when the system sleeps (the framework turns S-IRPs into D-IRPs);
//!   the hooks count the transitions.
//! - Remove locks by construction: every request holds the device's lock until it is done.
//!
//! [`IOCTL_TOASTER_GET_STATS`] returns the counters ([`Stats`]) so a test, here or under Wine,
//! can see what the driver went through.

#![no_std]

use core::sync::atomic::{AtomicU32, Ordering};

use wdm::pnp::{DevicePowerState, Guid, NewDevice, PnpDevice, PnpOptions, Role, Started};
use wdm::{
    Dispatch, FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, Irp, IrpQueue, Method, Outcome, SpinLock, Status, Unlocked,
    ctl_code, kprint,
};

/// The toaster's device interface class: `{781EF630-72B2-11D2-B852-00C04FAD5171}`, the WDK
/// sample's GUID_DEVINTERFACE_TOASTER.
pub const GUID_DEVINTERFACE_TOASTER: Guid = Guid::from_u128(0x781e_f630_72b2_11d2_b852_00c0_4fad_5171);

/// The root hardware ID the toaster is installed on.
pub const HARDWARE_ID: &str = r"ROOT\WDMTOASTER";

/// How many bytes the toaster keeps (a longer write fails with STATUS_INVALID_BUFFER_SIZE).
pub const CAPACITY: usize = 256;

/// Returns the [`Stats`] (its output buffer must hold [`Stats::SIZE`] bytes).
pub const IOCTL_TOASTER_GET_STATS: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x800, Method::Buffered, FILE_ANY_ACCESS);

/// Waits for the next write, then completes with STATUS_SUCCESS and the number of bytes written
/// in `Information`; STATUS_CANCELLED if cancelled, STATUS_NO_SUCH_DEVICE if the device goes.
pub const IOCTL_TOASTER_WAIT: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x801, Method::Buffered, FILE_ANY_ACCESS);

/// What the toaster went through, as [`IOCTL_TOASTER_GET_STATS`] returns it: little-endian
/// `u32`s in field order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Successful STARTs.
    pub starts: u32,
    /// STOPs.
    pub stops: u32,
    /// Entries into D0 after a power-down.
    pub d0_entries: u32,
    /// Exits from D0.
    pub d0_exits: u32,
    /// Reads completed.
    pub reads: u32,
    /// Writes completed.
    pub writes: u32,
    /// Waits completed by a write.
    pub waits: u32,
}

impl Stats {
    /// The size of the encoding.
    pub const SIZE: usize = 28;

    /// The encoding.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        let fields = [
            self.starts,
            self.stops,
            self.d0_entries,
            self.d0_exits,
            self.reads,
            self.writes,
            self.waits,
        ];
        for (chunk, v) in out.chunks_exact_mut(4).zip(fields) {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Decodes [`Stats::to_bytes`]; `None` for a buffer of another size.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<Stats> {
        if bytes.len() != Self::SIZE {
            return None;
        }
        let mut v = bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let mut next = || v.next().unwrap_or(0);
        Some(Stats {
            starts: next(),
            stops: next(),
            d0_entries: next(),
            d0_exits: next(),
            reads: next(),
            writes: next(),
            waits: next(),
        })
    }
}

/// The bytes the toaster keeps.
struct Contents {
    data: [u8; CAPACITY],
    len: usize,
}

/// One toaster device (the FDO's state).
pub struct Toaster {
    contents: SpinLock<Contents>,
    waiting: IrpQueue,
    starts: AtomicU32,
    stops: AtomicU32,
    d0_entries: AtomicU32,
    d0_exits: AtomicU32,
    reads: AtomicU32,
    writes: AtomicU32,
    waits: AtomicU32,
}

impl PnpDevice for Toaster {
    const ROLE: Role = Role::Function;
    const OPTIONS: PnpOptions = PnpOptions::new().interface(GUID_DEVINTERFACE_TOASTER);
    const DISPATCH: Dispatch<Self> = Dispatch::new()
        .create(Self::create_close)
        .close(Self::create_close)
        .cleanup(Self::cleanup)
        .read(Self::read)
        .write(Self::write)
        .device_control(Self::device_control);

    fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
        kprint!("toaster: AddDevice\n");
        Ok(Toaster {
            contents: SpinLock::new(Contents {
                data: [0; CAPACITY],
                len: 0,
            }),
            waiting: IrpQueue::new()?,
            starts: AtomicU32::new(0),
            stops: AtomicU32::new(0),
            d0_entries: AtomicU32::new(0),
            d0_exits: AtomicU32::new(0),
            reads: AtomicU32::new(0),
            writes: AtomicU32::new(0),
            waits: AtomicU32::new(0),
        })
    }

    fn start(&self, _started: &Started<'_>, _cx: &mut Unlocked) -> Result<(), Status> {
        // A real toaster programs its hardware with the resources here; this one has none.
        let n = self.starts.fetch_add(1, Ordering::Relaxed) + 1;
        kprint!("toaster: started ({})\n", n);
        Ok(())
    }

    fn stop(&self, _cx: &mut Unlocked) {
        self.stops.fetch_add(1, Ordering::Relaxed);
        kprint!("toaster: stopped\n");
    }

    fn surprise_removal(&self, cx: &mut Unlocked) {
        let n = self.waiting.complete_all(Status::NO_SUCH_DEVICE, cx);
        kprint!("toaster: surprise removal ({} waits failed)\n", n);
    }

    fn remove(&self, cx: &mut Unlocked) {
        let n = self.waiting.complete_all(Status::DELETE_PENDING, cx);
        kprint!("toaster: remove ({} waits failed)\n", n);
    }

    fn d0_exit(&self, _target: DevicePowerState, _cx: &mut Unlocked) {
        self.d0_exits.fetch_add(1, Ordering::Relaxed);
    }

    fn d0_entry(&self, _cx: &mut Unlocked) {
        self.d0_entries.fetch_add(1, Ordering::Relaxed);
    }
}

impl Toaster {
    /// The counters.
    pub fn stats(&self) -> Stats {
        let get = |c: &AtomicU32| c.load(Ordering::Relaxed);
        Stats {
            starts: get(&self.starts),
            stops: get(&self.stops),
            d0_entries: get(&self.d0_entries),
            d0_exits: get(&self.d0_exits),
            reads: get(&self.reads),
            writes: get(&self.writes),
            waits: get(&self.waits),
        }
    }

    fn create_close<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.complete(Status::SUCCESS, cx).into()
    }

    /// The handle is closing: its waits are cancelled.
    fn cleanup<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        self.waiting.cancel_file(irp.file_object(), cx);
        irp.complete(Status::SUCCESS, cx).into()
    }

    fn read<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let n = match irp.data_mut() {
            Ok(out) => self.contents.with(cx, |c| {
                let n = out.len().min(c.len);
                out[..n].copy_from_slice(&c.data[..n]);
                n
            }),
            Err(status) => return irp.complete(status, cx).into(),
        };
        self.reads.fetch_add(1, Ordering::Relaxed);
        irp.complete_with(Status::SUCCESS, n, cx).into()
    }

    fn write<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let n = match irp.data() {
            Ok(data) if data.len() > CAPACITY => return irp.complete(Status::INVALID_BUFFER_SIZE, cx).into(),
            Ok(data) => self.contents.with(cx, |c| {
                c.data[..data.len()].copy_from_slice(data);
                c.len = data.len();
                data.len()
            }),
            Err(status) => return irp.complete(status, cx).into(),
        };
        self.writes.fetch_add(1, Ordering::Relaxed);
        while let Some(wait) = self.waiting.remove_next(cx) {
            self.waits.fetch_add(1, Ordering::Relaxed);
            wait.complete_with(Status::SUCCESS, n, cx);
        }
        irp.complete_with(Status::SUCCESS, n, cx).into()
    }

    fn device_control<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let code = irp.ioctl().map(|i| i.code());
        match code {
            Some(IOCTL_TOASTER_GET_STATS) => {
                let stats = self.stats().to_bytes();
                let result = irp
                    .ioctl()
                    .ok_or(Status::INVALID_DEVICE_REQUEST)
                    .and_then(|i| i.buffered())
                    .and_then(|mut b| {
                        let out = b.output();
                        if out.len() < Stats::SIZE {
                            return Err(Status::BUFFER_TOO_SMALL);
                        }
                        out[..Stats::SIZE].copy_from_slice(&stats);
                        Ok(Stats::SIZE)
                    });
                match result {
                    Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
                    Err(status) => irp.complete(status, cx).into(),
                }
            }
            Some(IOCTL_TOASTER_WAIT) => {
                let (pending, pended) = irp.mark_pending();
                self.waiting.insert(pending, cx);
                pended.into()
            }
            _ => irp.complete(Status::INVALID_DEVICE_REQUEST, cx).into(),
        }
    }
}
