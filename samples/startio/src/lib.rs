//! The seed's pattern: requests processed one at a time in StartIo, cancelable while queued and
//! while in progress.
//!
//! The device is a 4 KiB data register. A write stores its bytes, a read returns the stored bytes
//! (as many as fit). Both are queued with IoStartPacket; StartIo begins one transfer and a timer
//! DPC, standing in for the hardware's latency ([`LATENCY_PER_BYTE`]), finishes it and starts the
//! next. Because the requests go through one device queue, they take effect in the order they
//! were sent.
//!
//! Cancellation, as SDV's StartIoCancel rule wants it: the device registers its Cancel routine
//! before it sets NonCancelable = FALSE ([`Cancelable`]); the other order does not compile. A
//! queued request is removed from the device queue and completed by the Cancel routine
//! ([`RemoveAndComplete`]); the request in progress has had its routine taken back by the
//! framework, so cancelling it sets `Irp->Cancel` and the hardware DPC completes it as cancelled.

#![no_std]

use core::time::Duration;

use wdm::start_io::{Cancelable, HeldPacket, Packet, RemoveAndComplete, Running, Set, StartIoState, WithCancelRoutine};
use wdm::sys::{IRP_MJ_READ, IRP_MJ_WRITE};
use wdm::{
    Device, DeviceOptions, Dispatch, DispatchLevel, Driver, DriverObject, IoMethod, Irp, Outcome, SpinLock, StartIo,
    Status, Timer, TimerCallback, Unlocked, kprint, utf16,
};

/// The register's size: a longer write fails with STATUS_INVALID_BUFFER_SIZE.
pub const CAPACITY: usize = 4096;

/// The simulated hardware's time per byte transferred (and at least one tick of it).
pub const LATENCY_PER_BYTE: Duration = Duration::from_micros(10);

/// The device's options: buffered I/O.
pub const DEVICE: DeviceOptions = DeviceOptions::new()
    .name(utf16!("\\Device\\StartIo"))
    .symbolic_link(utf16!("\\DosDevices\\StartIo"))
    .io_method(IoMethod::Buffered);

/// The device, in its final StartIo state: framework Cancel routine, cancelable packets.
type QueuedDevice = Device<StartIoState<StartIoSample, WithCancelRoutine<RemoveAndComplete>, Set<Cancelable>>>;

/// The data register.
struct Register {
    bytes: [u8; CAPACITY],
    len: usize,
}

/// The driver's state.
pub struct StartIoSample {
    device: QueuedDevice,
    /// The transfer the hardware is working on.
    in_progress: SpinLock<Option<HeldPacket>>,
    register: SpinLock<Register>,
    /// The hardware's "transfer done" interrupt.
    hardware: Timer,
}

/// The hardware finished the transfer in progress.
struct TransferDone;

impl TimerCallback<StartIoSample> for TransferDone {
    fn expired(driver: &StartIoSample, level: &DispatchLevel, cx: &mut Unlocked) {
        let Some(packet) = driver.in_progress.with(cx, Option::take) else {
            return;
        };
        driver.finish(packet, level, cx);
    }
}

impl StartIo for StartIoSample {
    fn start_io(&self, _device: Device<Running>, packet: Packet<'_>, _level: &DispatchLevel, cx: &mut Unlocked) {
        let bytes = packet.transfer_length().unwrap_or(0) as u32;
        let earlier = self.in_progress.with(cx, |slot| slot.replace(packet.hold()));
        // StartIo runs one packet at a time: the slot was empty. (Were it not, dropping the
        // earlier packet here, outside the lock, finishes it as cancelled.)
        drop(earlier);
        // Packets start only while the driver runs, when setting is never refused.
        let _ = self.hardware.set(LATENCY_PER_BYTE * bytes.max(1));
    }
}

impl Driver for StartIoSample {
    const DISPATCH: Dispatch<Self> = Dispatch::new()
        .create(Self::create_close)
        .close(Self::create_close)
        .read(Self::transfer)
        .write(Self::transfer);

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        let device = driver
            .create_device(&DEVICE)?
            .start_io(driver)
            .cancel_routine::<RemoveAndComplete>()
            .set_start_io_attributes(Cancelable);
        kprint!("startio: loaded\n");
        Ok(StartIoSample {
            device,
            in_progress: SpinLock::new(None),
            register: SpinLock::new(Register {
                bytes: [0; CAPACITY],
                len: 0,
            }),
            hardware: Timer::new::<Self, TransferDone>(driver)?,
        })
    }

    fn unload(&mut self, _cx: &mut Unlocked) {
        kprint!("startio: unloading\n");
    }
}

impl StartIoSample {
    fn create_close<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.complete(Status::SUCCESS, cx).into()
    }

    /// Reads and writes: checked here, carried out in order by StartIo and the hardware.
    fn transfer<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        match irp.transfer_length() {
            Some(0) => return irp.complete_with(Status::SUCCESS, 0, cx).into(),
            Some(n) if n > CAPACITY && u32::from(irp.major_function()) == IRP_MJ_WRITE => {
                return irp.complete(Status::INVALID_BUFFER_SIZE, cx).into();
            }
            _ => {}
        }
        let (pending, pended) = irp.mark_pending();
        self.device.start_packet(pending, cx);
        pended.into()
    }

    /// Completes the transfer in progress (as cancelled if it was) and starts the next.
    fn finish(&self, mut packet: HeldPacket, level: &DispatchLevel, cx: &mut Unlocked) {
        if packet.is_cancelled() {
            packet.finish(Status::CANCELLED, 0, level, cx);
            return;
        }
        let major = u32::from(packet.major_function());
        let result = if major == IRP_MJ_READ {
            packet.data_mut().map(|buffer| {
                self.register.with(cx, |register| {
                    let n = buffer.len().min(register.len);
                    buffer[..n].copy_from_slice(&register.bytes[..n]);
                    n
                })
            })
        } else {
            packet.data().map(|data| {
                self.register.with(cx, |register| {
                    let n = data.len().min(CAPACITY);
                    register.bytes[..n].copy_from_slice(&data[..n]);
                    register.len = n;
                    n
                })
            })
        };
        match result {
            Ok(n) => packet.finish(Status::SUCCESS, n, level, cx),
            Err(status) => packet.finish(status, 0, level, cx),
        }
    }
}
