//! A cancel-safe queue of pending IRPs, built on IoSetCancelRoutine and a spin lock (not on the
//! IoCsq* exports, so it runs where those are missing, such as Wine).
//!
//! The guarantees of spec §5.4:
//! - an IRP is completed exactly once: either removed by the driver (which then owns it) or
//!   completed by the queue's cancel routine, never both — ownership is decided by the atomic
//!   exchange of the IRP's cancel routine;
//! - a cancelled IRP never stays queued: an IRP already cancelled when it is inserted is
//!   completed at once, and a cancellation during insertion is handed to the cancel routine;
//! - removal never returns an IRP whose cancel routine has started.

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering, fence};

use wdm_sys::ntddk::{
    InitializeListHead, InsertTailList, IoGetCurrentIrpStackLocation, IoReleaseCancelSpinLock, IoSetCancelRoutine,
    IsListEmpty, RemoveEntryList,
};
use wdm_sys::{FILE_OBJECT, IRP, LIST_ENTRY, PDEVICE_OBJECT, PIRP, PLIST_ENTRY, PVOID};

use crate::irp::PendingIrp;
use crate::pool::PoolBox;
use crate::{SpinLock, Status, Unlocked};

/// The list's head.
struct List {
    head: LIST_ENTRY,
}

// SAFETY: the list links IRPs the queue owns; it is only touched under the queue's lock.
unsafe impl Send for List {}

/// The queue's pool block: the lock and list, and how many hold on to it.
///
/// A Cancel routine that IoCancelIrp has already taken reaches the queue through the IRP's
/// owner slot, and may be about to lock it when the queue's owner drops the queue (the removal
/// in `Drop` skips that IRP: its routine is gone). So the block is reference counted: one for
/// the [`IrpQueue`], one for every IRP linked in the list; whoever lets go last frees it. A
/// Cancel routine holds its IRP's reference until it has unlinked and completed the IRP.
struct Shared {
    list: SpinLock<List>,
    refs: AtomicUsize,
}

impl Shared {
    /// Lets go of one reference; frees the block with the last.
    ///
    /// # Safety
    /// The caller holds a reference it gives up, and touches the block no more.
    unsafe fn release(shared: NonNull<Shared>) {
        // SAFETY: the caller's reference keeps the block alive until this decrement.
        if unsafe { shared.as_ref() }.refs.fetch_sub(1, Ordering::Release) == 1 {
            // Everything the other holders did to the block happens before the free.
            fence(Ordering::Acquire);
            // SAFETY: the last reference: nobody else can reach the block (the list is empty
            // and the queue is gone); made by `PoolBox::into_raw` in `IrpQueue::new`.
            drop(unsafe { PoolBox::from_raw(shared) });
        }
    }
}

/// A cancel-safe queue of pending IRPs, each with a small value of type `T` the driver attaches
/// when it queues the IRP (a deadline, a sequence number; `()` by default).
///
/// The value lives in the IRP's `DriverContext[0..3]` (the queue uses `DriverContext[3]`), so
/// `T` must be `Copy` and fit in three pointers; a larger `T` does not compile.
///
/// ```
/// use wdm::{IrpQueue, PendingIrp, Status, Unlocked};
///
/// struct Reads {
///     queue: IrpQueue<u32>,
/// }
///
/// impl Reads {
///     fn park(&self, read: PendingIrp, ticket: u32, cx: &mut Unlocked) {
///         self.queue.insert_with(read, ticket, cx);
///     }
///
///     fn answer(&self, ticket: u32, cx: &mut Unlocked) {
///         if let Some(read) = self.queue.remove_first(|q| q.context() == ticket, cx) {
///             read.complete(Status::SUCCESS, cx);
///         }
///     }
/// }
/// ```
pub struct IrpQueue<T: Copy + Send + 'static = ()> {
    shared: NonNull<Shared>,
    _context: PhantomData<T>,
}

// SAFETY: the block is shared by reference count; its list is only touched under its lock, and
// the contexts in the IRPs are `Send`.
unsafe impl<T: Copy + Send + 'static> Send for IrpQueue<T> {}
// SAFETY: as above: every operation locks.
unsafe impl<T: Copy + Send + 'static> Sync for IrpQueue<T> {}

/// What a removal predicate (or [`IrpQueue::for_each`], [`CsqQueue::for_each`](crate::CsqQueue::for_each))
/// can see of a queued IRP.
///
/// ```
/// use wdm::{IrpQueue, Unlocked};
///
/// // How many requests a handle has queued (for a per-handle limit).
/// fn queued_by(queue: &IrpQueue<u64>, file: *const wdm::sys::FILE_OBJECT, cx: &mut Unlocked) -> usize {
///     let mut n = 0;
///     queue.for_each(|q| n += usize::from(q.file_object() == file), cx);
///     n
/// }
/// ```
pub struct QueuedIrp<'a, T = ()> {
    // Not `&IRP`: IoCancelIrp may write `Cancel` and `CancelRoutine` from another processor
    // while the queue's lock is held.
    irp: NonNull<IRP>,
    _context: PhantomData<(&'a IRP, T)>,
}

impl<T: Copy> QueuedIrp<'_, T> {
    /// The view of a queued IRP, lent to a predicate under its queue's lock.
    ///
    /// # Safety
    /// `irp` is linked in a locked queue of `T` (its context slot written by the insertion),
    /// and the view does not outlive the lock.
    pub(crate) unsafe fn new(irp: NonNull<IRP>) -> Self {
        QueuedIrp {
            irp,
            _context: PhantomData,
        }
    }

    /// The value attached when the IRP was queued.
    ///
    /// ```
    /// use wdm::{IrpQueue, Status, Unlocked};
    ///
    /// // Requests carry the tick they are due at; answer the due ones.
    /// fn expire(queue: &IrpQueue<u64>, now: u64, cx: &mut Unlocked) {
    ///     while let Some(irp) = queue.remove_first(|q| q.context() <= now, cx) {
    ///         irp.complete(Status::SUCCESS, cx);
    ///     }
    /// }
    /// ```
    pub fn context(&self) -> T {
        let irp = self.irp.as_ptr();
        // SAFETY: written by `insert_with` for every IRP in a queue of `T`, and unchanged since.
        unsafe { context_slot::<T>(irp).read() }
    }

    /// The file object the request was made on (to remove one handle's requests at cleanup).
    ///
    /// ```
    /// use wdm::{IrpQueue, Status, Unlocked};
    ///
    /// fn cancel_handle(queue: &IrpQueue, file: *const wdm::sys::FILE_OBJECT, cx: &mut Unlocked) {
    ///     while let Some(irp) = queue.remove_first(|q| q.file_object() == file, cx) {
    ///         irp.complete(Status::CANCELLED, cx);
    ///     }
    /// }
    /// ```
    pub fn file_object(&self) -> *const FILE_OBJECT {
        let irp = self.irp.as_ptr();
        // SAFETY: a queued IRP is live; its current location belongs to this driver.
        let location = unsafe { IoGetCurrentIrpStackLocation(irp) };
        // SAFETY: as above.
        unsafe { (*location).FileObject }
    }

    /// The major function code.
    ///
    /// ```
    /// use wdm::{IrpQueue, Status, Unlocked};
    ///
    /// // Answer queued reads only.
    /// fn next_read(queue: &IrpQueue, cx: &mut Unlocked) -> Option<wdm::PendingIrp> {
    ///     queue.remove_first(|q| u32::from(q.major_function()) == wdm::sys::IRP_MJ_READ, cx)
    /// }
    /// ```
    pub fn major_function(&self) -> u8 {
        let irp = self.irp.as_ptr();
        // SAFETY: as in `file_object`.
        let location = unsafe { IoGetCurrentIrpStackLocation(irp) };
        // SAFETY: as above.
        unsafe { (*location).MajorFunction }
    }
}

/// The list head in a queue's block, by raw place from the lock's `UnsafeCell`: never through a
/// guard's `&mut List`, whose tag the next lock's `&mut` would invalidate, and with it every
/// link to the head the list holds (Stacked Borrows). The guard is held only as the lock.
fn head_of(shared: NonNull<Shared>) -> PLIST_ENTRY {
    // SAFETY: a live queue block (its holders keep it alive); shared access only (the lock and
    // the list are in `UnsafeCell`s, the count is atomic).
    let list = unsafe { shared.as_ref() }.list.data_ptr();
    // SAFETY: as above; only the field's address is computed.
    unsafe { &raw mut (*list).head }
}

/// `DriverContext[3]`: which queue a queued IRP is in (for the cancel routine). The same slot
/// the IoCsq routines use for theirs, so both queues keep the driver's value in `[0..3]`.
fn owner_slot(irp: PIRP) -> *mut *mut Shared {
    crate::irp::driver_context(irp).wrapping_add(3).cast()
}

/// `DriverContext[0..3]`: the value the driver attached to a queued IRP (in an [`IrpQueue`] or
/// a [`CsqQueue`](crate::CsqQueue); `DriverContext[3]` is the queue's own).
pub(crate) fn context_slot<T>(irp: PIRP) -> *mut T {
    const {
        assert!(
            size_of::<T>() <= 3 * size_of::<PVOID>() && align_of::<T>() <= align_of::<PVOID>(),
            "a queue's context must fit in three pointers"
        );
    }
    crate::irp::driver_context(irp).cast()
}

impl IrpQueue<()> {
    /// Queues `irp`, cancelable. If it is already cancelled it is completed with
    /// STATUS_CANCELLED instead (it never stays queued).
    ///
    /// ```
    /// # use wdm::{Irp, IrpQueue, Outcome, Unlocked};
    /// fn park<'irp>(queue: &IrpQueue, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let (pending, pended) = irp.mark_pending();
    ///     queue.insert(pending, cx);
    ///     pended.into()
    /// }
    /// ```
    pub fn insert(&self, irp: PendingIrp, cx: &Unlocked) {
        self.insert_with(irp, (), cx);
    }
}

impl<T: Copy + Send + 'static> IrpQueue<T> {
    /// An empty queue (its list head and lock in a pool block, so the queue value can move);
    /// STATUS_INSUFFICIENT_RESOURCES if the pool has no room.
    ///
    /// ```
    /// use wdm::{IrpQueue, Status};
    ///
    /// struct Driver {
    ///     reads: IrpQueue,         // no value attached
    ///     timed: IrpQueue<u64>,    // a deadline per request
    /// }
    ///
    /// fn init() -> Result<Driver, Status> {
    ///     Ok(Driver { reads: IrpQueue::new()?, timed: IrpQueue::new()? }) // fails without pool
    /// }
    ///
    /// // (on the simulator, kernel code runs inside a simulated kernel)
    /// wdm_sim::Kernel::new().run(|| init().map(drop)).unwrap();
    /// ```
    pub fn new() -> Result<Self, Status> {
        let shared = PoolBox::try_new(Shared {
            list: SpinLock::new(List {
                head: LIST_ENTRY::default(),
            }),
            refs: AtomicUsize::new(1),
        })?;
        let shared = shared.into_raw();
        // SAFETY: the block is ours alone until the queue is returned, and stays put.
        unsafe { InitializeListHead(head_of(shared)) };
        Ok(Self {
            shared,
            _context: PhantomData,
        })
    }

    fn shared(&self) -> &Shared {
        // SAFETY: the queue holds a reference to its block for as long as it lives.
        unsafe { self.shared.as_ref() }
    }

    /// The list head (touch it only under the lock).
    fn head(&self) -> PLIST_ENTRY {
        head_of(self.shared)
    }

    /// Queues `irp` with `context`, cancelable. If it is already cancelled it is completed with
    /// STATUS_CANCELLED instead (it never stays queued): hence `cx`, the proof that no spin lock
    /// is held.
    ///
    /// ```
    /// use wdm::{Irp, IrpQueue, Outcome, Unlocked};
    ///
    /// fn wait<'irp>(queue: &IrpQueue<u64>, due: u64, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let (pending, pended) = irp.mark_pending();
    ///     queue.insert_with(pending, due, cx);
    ///     pended.into()
    /// }
    /// ```
    pub fn insert_with(&self, irp: PendingIrp, context: T, _cx: &Unlocked) {
        let raw = irp.into_raw().as_ptr();
        // SAFETY: DriverContext is the driver's while it owns the IRP.
        unsafe { context_slot::<T>(raw).write(context) };
        let shared = self.shared();
        let list = shared.list.lock_internal();
        // The IRP's reference to the block, given up by whoever unlinks it.
        shared.refs.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the IRP is ours; DriverContext[0] is the driver's while it owns the IRP.
        unsafe { owner_slot(raw).write(self.shared.as_ptr()) };
        // SAFETY: the head is initialized and locked; the IRP's entry is free.
        unsafe { InsertTailList(self.head(), crate::irp::list_entry(raw)) };
        // SAFETY: arming the cancel routine on our queued IRP.
        unsafe { IoSetCancelRoutine(raw, Some(cancel_routine)) };
        // Irp->Cancel is set by IoCancelIrp before it takes the routine.
        let cancelled = NonNull::new(raw).is_some_and(crate::irp::cancel_requested);
        // SAFETY: as above: taking the routine back decides who owns the IRP.
        if cancelled && unsafe { IoSetCancelRoutine(raw, None) }.is_some() {
            // SAFETY: linked in this locked list.
            unsafe { RemoveEntryList(crate::irp::list_entry(raw)) };
            drop(list);
            // Unlinked: its reference goes (never the last: the queue holds one).
            shared.refs.fetch_sub(1, Ordering::Relaxed);
            // SAFETY: out of the queue, with its routine taken back: ours to complete.
            complete_cancelled(raw);
            return;
        }
        // Otherwise it stays queued; if IoCancelIrp took the routine, the cancel routine
        // (waiting for this lock) unlinks and completes it.
        drop(list);
    }

    /// Removes the first queued IRP for which `keep` is true and whose cancel routine has not
    /// started; the caller owns it. `keep` runs under the queue's spin lock; `cx` (no lock
    /// held), borrowed exclusively for the call, keeps it from taking another lock, calling
    /// back into any queue (which would re-acquire the held lock: 0xF, a deadlock), or
    /// completing anything.
    ///
    /// ```
    /// use wdm::{IrpQueue, Status, Unlocked};
    ///
    /// fn answer(queue: &IrpQueue<u32>, ticket: u32, cx: &mut Unlocked) -> bool {
    ///     match queue.remove_first(|q| q.context() == ticket, cx) {
    ///         Some(irp) => {
    ///             irp.complete(Status::SUCCESS, cx);
    ///             true
    ///         }
    ///         None => false, // not queued, or its cancel routine has it
    ///     }
    /// }
    /// ```
    pub fn remove_first(&self, keep: impl FnMut(&QueuedIrp<'_, T>) -> bool, cx: &mut Unlocked) -> Option<PendingIrp> {
        self.remove_first_with(keep, cx).map(|(irp, _)| irp)
    }

    /// As [`remove_first`](Self::remove_first), with the value attached to the IRP.
    ///
    /// ```
    /// use wdm::{IrpQueue, Status, Unlocked};
    ///
    /// fn oldest_due(queue: &IrpQueue<u64>, now: u64, cx: &mut Unlocked) -> Option<u64> {
    ///     let (irp, due) = queue.remove_first_with(|q| q.context() <= now, cx)?;
    ///     irp.complete(Status::SUCCESS, cx);
    ///     Some(due)
    /// }
    /// ```
    pub fn remove_first_with(
        &self,
        keep: impl FnMut(&QueuedIrp<'_, T>) -> bool,
        _cx: &mut Unlocked,
    ) -> Option<(PendingIrp, T)> {
        self.take_first(keep)
    }

    /// Removal, for the framework's own predicates (which take no lock).
    fn take_first(&self, mut keep: impl FnMut(&QueuedIrp<'_, T>) -> bool) -> Option<(PendingIrp, T)> {
        let shared = self.shared();
        let list = shared.list.lock_internal();
        let head = self.head();
        // SAFETY: the locked list.
        let mut e = unsafe { (*head).Flink };
        while e != head {
            let irp = crate::irp::irp_of_list_entry(e);
            // SAFETY: linked entries stay valid while the list is locked.
            let next = unsafe { (*e).Flink };
            let view = QueuedIrp {
                // SAFETY: linked entries are entries of live IRPs, never NULL.
                irp: unsafe { NonNull::new_unchecked(irp) },
                _context: PhantomData,
            };
            // SAFETY: taking the routine back; NULL means the cancel routine has it.
            if keep(&view) && unsafe { IoSetCancelRoutine(irp, None) }.is_some() {
                // SAFETY: linked in this locked list.
                unsafe { RemoveEntryList(e) };
                drop(list);
                // Unlinked: its reference goes (never the last: the queue holds one).
                shared.refs.fetch_sub(1, Ordering::Relaxed);
                // SAFETY: written by `insert_with`; the IRP is ours again.
                let context = unsafe { context_slot::<T>(irp).read() };
                // SAFETY: out of the queue, routine taken back: the caller's now.
                return Some((unsafe { PendingIrp::from_raw(view.irp) }, context));
            }
            e = next;
        }
        None
    }

    /// Removes the first queued IRP whose cancel routine has not started. `cx`: the queue's lock
    /// is a spin lock like the driver's own, taken one at a time (not under another lock, not
    /// from a predicate).
    ///
    /// ```
    /// use wdm::{IrpQueue, Status, Unlocked};
    ///
    /// fn drain(queue: &IrpQueue, cx: &mut Unlocked) {
    ///     while let Some(irp) = queue.remove_next(cx) {
    ///         irp.complete(Status::CANCELLED, cx);
    ///     }
    /// }
    /// ```
    pub fn remove_next(&self, _cx: &Unlocked) -> Option<PendingIrp> {
        self.take_first(|_| true).map(|(irp, _)| irp)
    }

    /// As [`remove_next`](Self::remove_next), with the value attached to the IRP.
    ///
    /// ```
    /// use wdm::{IrpQueue, Status, Unlocked};
    ///
    /// fn next_sequence(queue: &IrpQueue<u32>, cx: &mut Unlocked) -> Option<u32> {
    ///     let (irp, sequence) = queue.remove_next_with(cx)?;
    ///     irp.complete(Status::SUCCESS, cx);
    ///     Some(sequence)
    /// }
    /// ```
    pub fn remove_next_with(&self, _cx: &Unlocked) -> Option<(PendingIrp, T)> {
        self.take_first(|_| true)
    }

    /// Completes every IRP still queued with `status` (for unload, a device going away, a
    /// cleanup that answers rather than cancels) and returns how many. IRPs whose cancel
    /// routine has started are left to it (it completes them with STATUS_CANCELLED).
    ///
    /// ```
    /// use wdm::{Driver, IrpQueue, Status, Unlocked};
    ///
    /// struct Reads {
    ///     waiting: IrpQueue,
    /// }
    ///
    /// fn unload(reads: &mut Reads, cx: &mut Unlocked) {
    ///     // Tell the waiting readers the device is gone, rather than "cancelled".
    ///     let _answered = reads.waiting.complete_all(Status::NO_SUCH_DEVICE, cx);
    /// }
    /// ```
    pub fn complete_all(&self, status: impl crate::CompletionStatus, cx: &Unlocked) -> usize {
        let mut n = 0;
        while let Some(irp) = self.remove_next(cx) {
            irp.complete(status, cx);
            n += 1;
        }
        n
    }

    /// Completes with STATUS_CANCELLED every queued IRP made on `file` (IRP_MJ_CLEANUP: the
    /// handle is closing) whose cancel routine has not started, and returns how many. Those
    /// whose routine has started are completed by it, as cancelled too.
    ///
    /// ```
    /// use wdm::{Irp, IrpQueue, Outcome, Status, Unlocked};
    ///
    /// fn cleanup<'irp>(reads: &IrpQueue, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let _cancelled = reads.cancel_file(irp.file_object(), cx);
    ///     irp.complete(Status::SUCCESS, cx).into()
    /// }
    /// ```
    pub fn cancel_file(&self, file: *const FILE_OBJECT, cx: &Unlocked) -> usize {
        let mut n = 0;
        while let Some((irp, _)) = self.take_first(|q| q.file_object() == file) {
            irp.complete(Status::CANCELLED, cx);
            n += 1;
        }
        n
    }

    /// Calls `visit` for each queued IRP, in order, under the queue's lock (to find the earliest
    /// deadline, count a caller's requests, ...). As with [`remove_first`](Self::remove_first),
    /// `cx` keeps `visit` from taking another lock or calling back into a queue.
    ///
    /// ```
    /// use wdm::{IrpQueue, Unlocked};
    ///
    /// fn earliest_deadline(queue: &IrpQueue<u64>, cx: &mut Unlocked) -> Option<u64> {
    ///     let mut earliest = None;
    ///     queue.for_each(|q| earliest = Some(earliest.map_or(q.context(), |e: u64| e.min(q.context()))), cx);
    ///     earliest
    /// }
    /// ```
    pub fn for_each(&self, mut visit: impl FnMut(&QueuedIrp<'_, T>), _cx: &mut Unlocked) {
        let _list = self.shared().list.lock_internal();
        let head = self.head();
        // SAFETY: the locked list.
        let mut e = unsafe { (*head).Flink };
        while e != head {
            visit(&QueuedIrp {
                // SAFETY: linked entries are entries of live IRPs, never NULL.
                irp: unsafe { NonNull::new_unchecked(crate::irp::irp_of_list_entry(e)) },
                _context: PhantomData,
            });
            // SAFETY: linked entries stay valid while the list is locked.
            e = unsafe { (*e).Flink };
        }
    }

    /// Whether the queue is empty (of IRPs not yet taken by their cancel routine, or not).
    /// `cx`, as for [`remove_next`](Self::remove_next): it takes the queue's lock.
    ///
    /// ```
    /// use wdm::{IrpQueue, Unlocked};
    ///
    /// fn should_keep_ticking(waiting: &IrpQueue<u64>, cx: &Unlocked) -> bool {
    ///     !waiting.is_empty(cx)
    /// }
    /// ```
    pub fn is_empty(&self, _cx: &Unlocked) -> bool {
        let _list = self.shared().list.lock_internal();
        // SAFETY: the locked, initialized list.
        unsafe { IsListEmpty(self.head()) }
    }
}

/// Dropping a queue completes every IRP still in it with STATUS_CANCELLED (nothing may stay
/// queued in a queue that goes away; to answer them with another status, call
/// [`IrpQueue::complete_all`] first, for example in [`Driver::unload`](crate::Driver::unload)).
/// An IRP whose Cancel routine has already started is completed by that routine; the queue's
/// pool block lives until it has finished.
impl<T: Copy + Send + 'static> Drop for IrpQueue<T> {
    fn drop(&mut self) {
        while let Some((irp, _)) = self.take_first(|_| true) {
            // Dropped under a lock (a queue in a locked value), the IRPs are completed by their
            // device's DPC once the lock is released.
            crate::irp::complete_cancelled_anywhere(irp.into_raw());
        }
        // SAFETY: the queue's own reference, given up here; `self` is not used again.
        unsafe { Shared::release(self.shared) };
    }
}

fn complete_cancelled(irp: PIRP) {
    if let Some(irp) = NonNull::new(irp) {
        // SAFETY: the caller owns the pending IRP.
        let irp = unsafe { PendingIrp::from_raw(irp) };
        irp.complete_unchecked(Status::CANCELLED, 0);
    }
}

wdm_sys::callback! {
    unsafe fn cancel_routine(_device: PDEVICE_OBJECT, irp: PIRP) {
        // SAFETY: called by IoCancelIrp with a live IRP and the cancel lock held.
        let cancel_irql = unsafe { (*irp).CancelIrql };
        // SAFETY: releasing the lock the I/O manager acquired, with its saved IRQL.
        unsafe { IoReleaseCancelSpinLock(cancel_irql) };
        // SAFETY: the IRP is queued: DriverContext[0] names its queue's block, which the IRP's
        // reference keeps alive (even if the queue is dropped meanwhile) until the release below.
        let owner = unsafe { owner_slot(irp).read() };
        // SAFETY: `insert_with` wrote a pool block's address there, never NULL.
        let shared = unsafe { NonNull::new_unchecked(owner) };
        // SAFETY: as above.
        let list = unsafe { shared.as_ref() }.list.lock_internal();
        // SAFETY: still linked: removal skips IRPs whose routine was taken.
        unsafe { RemoveEntryList(crate::irp::list_entry(irp)) };
        drop(list);
        complete_cancelled(irp);
        // SAFETY: the IRP's reference, given up now that it is unlinked; the block is not
        // touched after this.
        unsafe { Shared::release(shared) };
    }
}
