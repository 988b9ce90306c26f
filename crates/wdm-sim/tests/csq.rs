//! Cancel-safe queues (spec §5.4): a raw driver in the style of Windows-driver-samples
//! `general/cancel`, and the races between insert, cancel and removal explored schedule by
//! schedule: every IRP is completed exactly once.

#![allow(clippy::multiple_unsafe_ops_per_block, clippy::missing_safety_doc)]

mod common;

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

use common::*;
use wdm_sim::explore::{Explorer, Processors, Work};
use wdm_sim::{Kernel, Rule};
use wdm_sys::ntddk::*;
use wdm_sys::*;

#[repr(C)]
struct Ext {
    csq: IO_CSQ,
    queue: LIST_ENTRY,
    lock: KSPIN_LOCK,
    /// The context of the last IRP inserted with one (for IoCsqRemoveIrp).
    context: IO_CSQ_IRP_CONTEXT,
    cancelled: AtomicU32,
    /// Refuse inserts (IoCsqInitializeEx's InsertIrpEx returns an error).
    refuse: bool,
    /// Mark each read cancelled before inserting it (a cancel that arrived first).
    precancel: bool,
    /// InsertIrpEx accepts with STATUS_PENDING instead of STATUS_SUCCESS (as mingw-w64's csq.h
    /// example does).
    accept_pending: bool,
    /// What the last IoCsqInsertIrpEx returned.
    last_insert: AtomicU32,
}

const DRAIN_ONE: u32 = 0x222000;
const REMOVE_BY_CONTEXT: u32 = 0x222004;

unsafe fn ext_of(csq: PIO_CSQ) -> *mut Ext {
    // `csq` is the first field of the extension.
    csq.cast()
}

unsafe fn list_entry(irp: PIRP) -> PLIST_ENTRY {
    // SAFETY: a live IRP.
    unsafe { &raw mut (*irp).Tail.Overlay.__bindgen_anon_2.ListEntry }
}

unsafe fn irp_of(entry: PLIST_ENTRY) -> PIRP {
    // CONTAINING_RECORD(entry, IRP, Tail.Overlay.ListEntry)
    let probe = IRP::default();
    // SAFETY: only takes a field's address in a local IRP.
    let field = unsafe { &raw const probe.Tail.Overlay.__bindgen_anon_2.ListEntry };
    let offset = field as usize - (&raw const probe) as usize;
    entry.cast::<u8>().wrapping_sub(offset).cast()
}

unsafe extern "C-unwind" fn insert(csq: PIO_CSQ, irp: PIRP) {
    // SAFETY: called under the queue lock.
    unsafe { InsertTailList(&raw mut (*ext_of(csq)).queue, list_entry(irp)) };
}

unsafe extern "C-unwind" fn insert_ex(csq: PIO_CSQ, irp: PIRP, _ctx: PVOID) -> NTSTATUS {
    // SAFETY: called under the queue lock.
    unsafe {
        if (*ext_of(csq)).refuse {
            return STATUS_DEVICE_BUSY;
        }
        insert(csq, irp);
        if (*ext_of(csq)).accept_pending {
            return STATUS_PENDING;
        }
    }
    STATUS_SUCCESS
}

unsafe extern "C-unwind" fn remove(_csq: PIO_CSQ, irp: PIRP) {
    // SAFETY: called under the queue lock for a queued IRP.
    unsafe { RemoveEntryList(list_entry(irp)) };
}

unsafe extern "C-unwind" fn peek_next(csq: PIO_CSQ, irp: PIRP, file: PVOID) -> PIRP {
    // SAFETY: called under the queue lock.
    unsafe {
        let head = &raw mut (*ext_of(csq)).queue;
        let mut e = if irp.is_null() {
            (*head).Flink
        } else {
            (*list_entry(irp)).Flink
        };
        while e != head {
            let candidate = irp_of(e);
            if file.is_null() || (*IoGetCurrentIrpStackLocation(candidate)).FileObject == file.cast() {
                return candidate;
            }
            e = (*e).Flink;
        }
        std::ptr::null_mut()
    }
}

unsafe extern "C-unwind" fn acquire(csq: PIO_CSQ, irql: PKIRQL) {
    // SAFETY: the queue's own lock.
    unsafe { *irql = KeAcquireSpinLockRaiseToDpc(&raw mut (*ext_of(csq)).lock) };
}

unsafe extern "C-unwind" fn release(csq: PIO_CSQ, irql: KIRQL) {
    // SAFETY: the queue's own lock, held.
    unsafe { KeReleaseSpinLock(&raw mut (*ext_of(csq)).lock, irql) };
}

unsafe extern "C-unwind" fn complete_canceled(csq: PIO_CSQ, irp: PIRP) {
    // SAFETY: an IRP out of the queue.
    unsafe {
        (*ext_of(csq)).cancelled.fetch_add(1, SeqCst);
        complete(irp, STATUS_CANCELLED, 0);
    }
}

unsafe extern "C-unwind" fn dispatch_read(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us the IRP.
    unsafe {
        let e = (*device).DeviceExtension.cast::<Ext>();
        if (*e).precancel {
            (*irp).Cancel = 1;
        }
        let status = IoCsqInsertIrpEx(&raw mut (*e).csq, irp, &raw mut (*e).context, std::ptr::null_mut());
        (*e).last_insert.store(status as u32, SeqCst);
        if !NT_SUCCESS(status) {
            complete(irp, status, 0);
            return status;
        }
    }
    STATUS_PENDING
}

unsafe extern "C-unwind" fn dispatch_ioctl(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us the IRP.
    unsafe {
        let e = (*device).DeviceExtension.cast::<Ext>();
        let code = (*IoGetCurrentIrpStackLocation(irp))
            .Parameters
            .DeviceIoControl
            .IoControlCode;
        let taken = if code == REMOVE_BY_CONTEXT {
            IoCsqRemoveIrp(&raw mut (*e).csq, &raw mut (*e).context)
        } else {
            IoCsqRemoveNextIrp(&raw mut (*e).csq, std::ptr::null_mut())
        };
        if !taken.is_null() {
            complete(taken, STATUS_SUCCESS, 1);
        }
        complete(irp, STATUS_SUCCESS, usize::from(!taken.is_null()));
    }
    STATUS_SUCCESS
}

unsafe extern "C-unwind" fn dispatch_cleanup(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us the IRP; the file's queued IRPs are cancelled.
    unsafe {
        let e = (*device).DeviceExtension.cast::<Ext>();
        let file = (*IoGetCurrentIrpStackLocation(irp)).FileObject;
        loop {
            let queued = IoCsqRemoveNextIrp(&raw mut (*e).csq, file.cast());
            if queued.is_null() {
                break;
            }
            complete(queued, STATUS_CANCELLED, 0);
        }
        complete(irp, STATUS_SUCCESS, 0);
    }
    STATUS_SUCCESS
}

unsafe extern "C-unwind" fn unload(driver: PDRIVER_OBJECT) {
    // SAFETY: the driver's own objects.
    unsafe { delete_devices(driver, &["Csq"]) };
}

unsafe extern "C-unwind" fn entry(driver: PDRIVER_OBJECT, registry: PUNICODE_STRING) -> NTSTATUS {
    // SAFETY: the simulator passes a valid driver object and registry path.
    unsafe {
        let r = &*registry;
        let path = String::from_utf16_lossy(std::slice::from_raw_parts(r.Buffer, usize::from(r.Length) / 2));
        let device = create_device(driver, "Csq", size_of::<Ext>() as u32, DO_BUFFERED_IO);
        let e = (*device).DeviceExtension.cast::<Ext>();
        (*e).refuse = path.contains("refuse");
        (*e).precancel = path.contains("precancel");
        (*e).accept_pending = path.contains("pending");
        InitializeListHead(&raw mut (*e).queue);
        KeInitializeSpinLock(&raw mut (*e).lock);
        let status = IoCsqInitializeEx(
            &raw mut (*e).csq,
            Some(insert_ex),
            Some(remove),
            Some(peek_next),
            Some(acquire),
            Some(release),
            Some(complete_canceled),
        );
        assert_eq!(status, STATUS_SUCCESS);
        open_close(driver);
        (*driver).MajorFunction[IRP_MJ_READ as usize] = Some(dispatch_read);
        (*driver).MajorFunction[IRP_MJ_DEVICE_CONTROL as usize] = Some(dispatch_ioctl);
        (*driver).MajorFunction[IRP_MJ_CLEANUP as usize] = Some(dispatch_cleanup);
        (*driver).DriverUnload = Some(unload);
    }
    STATUS_SUCCESS
}

#[test]
fn queued_reads_are_drained_in_order() {
    let kernel = Kernel::new();
    let driver = kernel.load("csq", entry).unwrap();
    let file = kernel.open(r"\\.\Csq").unwrap();
    let reads: Vec<_> = (0..3).map(|_| file.start_read(1)).collect();
    assert!(reads.iter().all(|r| !r.is_done() && r.returned == STATUS_PENDING));
    for (n, r) in reads.iter().enumerate() {
        assert_eq!(file.ioctl(DRAIN_ONE, &[], 0).information, 1);
        assert!(r.is_done(), "read {n} drained in order");
    }
    assert_eq!(file.ioctl(DRAIN_ONE, &[], 0).information, 0, "queue empty");
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn cancel_removes_a_queued_irp_and_removal_skips_it() {
    let kernel = Kernel::new();
    let driver = kernel.load("csq", entry).unwrap();
    let file = kernel.open(r"\\.\Csq").unwrap();
    let a = file.start_read(1);
    let b = file.start_read(1);
    assert!(a.cancel());
    assert_eq!(a.wait().status, STATUS_CANCELLED);
    file.ioctl(DRAIN_ONE, &[], 0);
    assert_eq!(b.wait().status, STATUS_SUCCESS);
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn cleanup_cancels_the_callers_queued_requests_only() {
    let kernel = Kernel::new();
    let driver = kernel.load("csq", entry).unwrap();
    let mine = kernel.open(r"\\.\Csq").unwrap();
    let other = kernel.open(r"\\.\Csq").unwrap();
    let m = mine.start_read(1);
    let o = other.start_read(1);
    mine.close();
    assert_eq!(m.wait().status, STATUS_CANCELLED);
    assert!(!o.is_done());
    other.ioctl(DRAIN_ONE, &[], 0);
    assert_eq!(o.wait().status, STATUS_SUCCESS);
    other.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn remove_by_context_and_after_cancel() {
    let kernel = Kernel::new();
    let driver = kernel.load("csq", entry).unwrap();
    let file = kernel.open(r"\\.\Csq").unwrap();
    let a = file.start_read(1);
    assert_eq!(file.ioctl(REMOVE_BY_CONTEXT, &[], 0).information, 1);
    assert_eq!(a.wait().status, STATUS_SUCCESS);
    let b = file.start_read(1);
    b.cancel();
    assert_eq!(b.wait().status, STATUS_CANCELLED);
    // The cancel routine cleared the context: nothing to remove.
    assert_eq!(file.ioctl(REMOVE_BY_CONTEXT, &[], 0).information, 0);
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_refused_insert_is_not_marked_pending() {
    // IoCsqInsertIrpEx failing: the dispatch routine completes the IRP and returns the error;
    // the pending contract holds (no 0x23E), by the decision documented in csq.rs.
    let kernel = Kernel::new();
    let driver = kernel.load("csq-refuse", entry).unwrap();
    let file = kernel.open(r"\\.\Csq").unwrap();
    assert_eq!(file.read(1).status, STATUS_DEVICE_BUSY);
    file.close();
    driver.unload();
    assert!(!kernel.was_reported(Rule::MarkedNotPending));
    kernel.assert_clean();
}

#[test]
fn insert_irp_ex_returns_the_callbacks_status() {
    // The DDI: IoCsqInsertIrpEx returns what InsertIrpEx returned, STATUS_PENDING included (a
    // success); found by the Wine patch's tests, which disagreed with this simulator.
    let kernel = Kernel::new();
    let driver = kernel.load("csq-pending", entry).unwrap();
    let file = kernel.open(r"\\.\Csq").unwrap();
    let read = file.start_read(1);
    assert_eq!(read.returned, STATUS_PENDING);
    // SAFETY: the device extension of the driver's only device, read while it is loaded.
    let last = unsafe {
        let d = (*driver.object()).DeviceObject;
        (*(*d).DeviceExtension.cast::<Ext>()).last_insert.load(SeqCst)
    };
    assert_eq!(last, STATUS_PENDING as u32, "InsertIrpEx's own status");
    assert!(read.cancel());
    assert_eq!(read.wait().status, STATUS_CANCELLED);
    file.close();
    driver.unload();
    kernel.assert_clean();
}

/// Cancel racing insertion and removal: CPU0 drains (RemoveNext), CPU1 cancels the queued
/// read, while CPU2 inserts another read. Every read completes exactly once.
fn race(kernel: &Kernel, cpus: &mut Processors) -> Result<(), String> {
    let driver = kernel.load("csq", entry).map_err(|s| format!("{s:#x}"))?;
    let file = kernel.open(r"\\.\Csq").map_err(|s| format!("{s:#x}"))?;
    let first = file.start_read(1);
    let second = std::sync::Mutex::new(None);
    let work: Vec<Work<'_>> = vec![
        Box::new(|| {
            file.ioctl(DRAIN_ONE, &[], 0);
        }),
        Box::new(|| {
            first.cancel();
        }),
        Box::new(|| {
            *second.lock().unwrap() = Some(file.start_read(1));
        }),
    ];
    cpus.run(work);
    // Drain whatever is left, then check each read completed once.
    file.ioctl(DRAIN_ONE, &[], 0);
    file.ioctl(DRAIN_ONE, &[], 0);
    let a = first
        .wait_for(std::time::Duration::from_secs(2))
        .ok_or("first read never completed")?;
    let second = second.into_inner().unwrap().ok_or("no second read")?;
    let b = second
        .wait_for(std::time::Duration::from_secs(2))
        .ok_or("second read never completed")?;
    if ![STATUS_SUCCESS, STATUS_CANCELLED].contains(&a.status) || b.status != STATUS_SUCCESS {
        return Err(format!("statuses {:#x} {:#x}", a.status, b.status));
    }
    file.close();
    driver.unload();
    let reports = kernel.take_reports();
    if reports.is_empty() {
        Ok(())
    } else {
        Err(format!("{reports:?}"))
    }
}

#[test]
fn insert_cancel_and_remove_race_safely_in_every_schedule() {
    let r = Explorer::exhaustive(2).run(race);
    assert!(r.failure.is_none(), "{:?}", r.failure);
    assert!(r.schedules > 50, "{} schedules", r.schedules);
}

#[test]
fn cancel_before_insert_completes_the_irp_at_once() {
    // An IRP already cancelled when IoCsqInsertIrp arms the routine: the queue takes it back
    // and completes it as cancelled, never leaving it queued.
    let kernel = Kernel::new();
    let driver = kernel.load("csq-precancel", entry).unwrap();
    let file = kernel.open(r"\\.\Csq").unwrap();
    let p = file.start_read(1);
    assert_eq!(p.returned, STATUS_PENDING);
    assert_eq!(p.wait().status, STATUS_CANCELLED);
    // SAFETY: the fixture's device extension.
    let cancelled = unsafe {
        (*(*(*driver.object()).DeviceObject).DeviceExtension.cast::<Ext>())
            .cancelled
            .load(SeqCst)
    };
    assert_eq!(cancelled, 1, "CompleteCanceledIrp ran once");
    assert_eq!(file.ioctl(DRAIN_ONE, &[], 0).information, 0);
    file.close();
    driver.unload();
    kernel.assert_clean();
}
