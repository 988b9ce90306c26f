//! The WDK's `general/cancel` sample, on the system's own cancel-safe queue.
//!
//! As in the C sample, reads are queued with the IoCsq routines and answered one after another
//! by a worker at PASSIVE_LEVEL: the C sample's polling thread is a work item here, queued by
//! each read (the C sample signals a semaphore). The queue is a [`CsqQueue`], the framework's
//! queue on IoCsqInitializeEx, IoCsqInsertIrpEx and IoCsqRemoveNextIrp; the framework supplies
//! the IO_CSQ callbacks the C sample writes by hand (its CsampInsertIrp, CsampRemoveIrp,
//! CsampPeekNextIrp, CsampAcquireLock, CsampReleaseLock, CsampCompleteCanceledIrp).
//!
//! - IRP_MJ_READ (buffered): shorter than the C sample's INPUT_DATA (one ULONG), it fails with
//!   STATUS_BUFFER_TOO_SMALL; otherwise it gets the next sequence number and is queued.
//! - The worker takes the reads in order and writes each one's sequence number as its
//!   INPUT_DATA (little-endian), completing it with Information = 4.
//! - A queued read can be cancelled at any time (the system's cancel routine takes it out and
//!   the framework completes it with STATUS_CANCELLED).
//! - IRP_MJ_CLEANUP cancels the closing handle's queued reads (the C sample's CsampCleanup:
//!   IoCsqRemoveNextIrp with the file object to match).
//! - Unload, once the worker is done, cancels the reads still queued.

#![no_std]

use core::sync::atomic::{AtomicU32, Ordering};

use wdm::{
    CsqQueue, DeviceOptions, Dispatch, Driver, DriverObject, IoMethod, Irp, Outcome, Status, Unlocked, WorkCallback,
    WorkItem, kprint, utf16,
};

/// The device's options: buffered reads. (`\Device\CancelSample`, `\\.\CancelSample`: the C
/// sample's `CancelSamp` names are not reused, so both can be installed side by side.)
pub const DEVICE: DeviceOptions = DeviceOptions::new()
    .name(utf16!("\\Device\\CancelSample"))
    .symbolic_link(utf16!("\\DosDevices\\CancelSample"))
    .io_method(IoMethod::Buffered);

/// The size of the C sample's INPUT_DATA (one ULONG): the shortest read, and what a read gets.
pub const INPUT_DATA_SIZE: usize = 4;

/// The driver's state.
pub struct Cancel {
    /// Reads waiting for the worker, each with its sequence number.
    reads: CsqQueue<u32>,
    /// Drains `reads` (the C sample's polling thread).
    worker: WorkItem,
    /// The next read's sequence number.
    next: AtomicU32,
}

/// The worker: answers every queued read, in order.
struct Poll;

impl WorkCallback<Cancel> for Poll {
    fn run(driver: &Cancel, cx: &mut Unlocked) {
        while let Some((mut read, sequence)) = driver.reads.remove_next_with(cx) {
            let answered = read.data_mut().and_then(|buffer| {
                let data = buffer.get_mut(..INPUT_DATA_SIZE).ok_or(Status::BUFFER_TOO_SMALL)?;
                data.copy_from_slice(&input_data(sequence));
                Ok(INPUT_DATA_SIZE)
            });
            match answered {
                Ok(n) => read.complete_with(Status::SUCCESS, n, cx),
                Err(status) => read.complete(status, cx),
            }
        }
    }
}

/// The INPUT_DATA a read with sequence number `n` gets.
///
/// ```
/// assert_eq!(cancel::input_data(0x0102_0304), [4, 3, 2, 1]);
/// ```
pub fn input_data(n: u32) -> [u8; INPUT_DATA_SIZE] {
    n.to_le_bytes()
}

impl Driver for Cancel {
    const DISPATCH: Dispatch<Self> = Dispatch::new()
        .create(Self::create_close)
        .close(Self::create_close)
        .cleanup(Self::cleanup)
        .read(Self::read);

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        let device = driver.create_device(&DEVICE)?;
        let worker = WorkItem::new::<Self, Poll>(driver, &device)?;
        let reads = CsqQueue::new()?;
        kprint!("cancel: loaded\n");
        Ok(Cancel {
            reads,
            worker,
            next: AtomicU32::new(0),
        })
    }

    /// The worker has returned (unload waits for it); what is still queued is cancelled.
    fn unload(&mut self, cx: &mut Unlocked) {
        let cancelled = self.reads.complete_all(Status::CANCELLED, cx);
        kprint!("cancel: unloading, {} queued reads cancelled\n", cancelled);
    }
}

impl Cancel {
    fn create_close<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.complete(Status::SUCCESS, cx).into()
    }

    fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        if irp.transfer_length().is_none_or(|n| n < INPUT_DATA_SIZE) {
            return irp.complete(Status::BUFFER_TOO_SMALL, cx).into();
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
        let cancelled = self.reads.cancel_file(irp.file_object(), cx);
        if cancelled > 0 {
            kprint!("cancel: cleanup cancelled {} queued reads\n", cancelled);
        }
        irp.complete(Status::SUCCESS, cx).into()
    }
}
