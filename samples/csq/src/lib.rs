//! The `general/cancel` pattern: a cancel-safe queue drained by a worker.
//!
//! Reads are pended into a cancel-safe queue ([`IrpQueue`], built on IoSetCancelRoutine and a
//! spin lock) and a work item, running at PASSIVE_LEVEL on a system worker thread, drains the
//! queue: it fills each read's buffer with the read's sequence number (the low byte, repeated)
//! and completes it. A read can be cancelled at any time while it is queued; closing a handle
//! (IRP_MJ_CLEANUP) cancels that handle's queued reads. The C sample uses the IoCsq* routines
//! and a system thread; the queue here gives the same guarantees without the IoCsq exports.

#![no_std]

use core::sync::atomic::{AtomicU32, Ordering};

use wdm::{
    DeviceOptions, Dispatch, Driver, DriverObject, IoMethod, Irp, IrpQueue, Outcome, Status, Unlocked, WorkCallback,
    WorkItem, kprint, utf16,
};

/// The device's options: buffered reads.
pub const DEVICE: DeviceOptions = DeviceOptions::new()
    .name(utf16!("\\Device\\CancelSafeQueue"))
    .symbolic_link(utf16!("\\DosDevices\\CancelSafeQueue"))
    .io_method(IoMethod::Buffered);

/// The driver's state.
pub struct Csq {
    /// Reads waiting for the worker, each with its sequence number.
    reads: IrpQueue<u32>,
    /// Drains `reads`.
    worker: WorkItem,
    /// The next read's sequence number.
    next: AtomicU32,
}

/// The worker: answers every queued read.
struct Drain;

impl WorkCallback<Csq> for Drain {
    fn run(driver: &Csq, cx: &mut Unlocked) {
        while let Some((mut read, sequence)) = driver.reads.remove_next_with(cx) {
            let fill = sequence_byte(sequence);
            match read.data_mut() {
                Ok(buffer) => {
                    buffer.fill(fill);
                    let n = buffer.len();
                    read.complete_with(Status::SUCCESS, n, cx);
                }
                Err(status) => read.complete(status, cx),
            }
        }
    }
}

/// The byte a read with sequence number `n` is filled with.
pub fn sequence_byte(n: u32) -> u8 {
    n.to_le_bytes()[0]
}

impl Driver for Csq {
    const DISPATCH: Dispatch<Self> = Dispatch::new()
        .create(Self::create_close)
        .close(Self::create_close)
        .cleanup(Self::cleanup)
        .read(Self::read);

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        let device = driver.create_device(&DEVICE)?;
        let worker = WorkItem::new::<Self, Drain>(driver, &device)?;
        kprint!("csq: loaded\n");
        Ok(Csq {
            reads: IrpQueue::new()?,
            worker,
            next: AtomicU32::new(0),
        })
    }

    fn unload(&mut self, _cx: &mut Unlocked) {
        kprint!("csq: unloading\n");
    }
}

impl Csq {
    fn create_close<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.complete(Status::SUCCESS, cx).into()
    }

    fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        if irp.transfer_length() == Some(0) {
            return irp.complete_with(Status::SUCCESS, 0, cx).into();
        }
        let sequence = self.next.fetch_add(1, Ordering::Relaxed);
        let (pending, pended) = irp.mark_pending();
        self.reads.insert_with(pending, sequence, cx);
        // Requests arrive only while the driver runs, when queuing is never refused; `false`
        // (already queued) is fine: that run drains this read too.
        let _ = self.worker.queue();
        pended.into()
    }

    /// The handle is closing: its queued reads are cancelled.
    fn cleanup<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let file = irp.file_object();
        while let Some(read) = self.reads.remove_first(|q| q.file_object() == file, cx) {
            read.complete(Status::CANCELLED, cx);
        }
        irp.complete(Status::SUCCESS, cx).into()
    }
}
