//! A cancel-safe queue of pending IRPs on the system's own IoCsq* routines (spec §5.4, DOC
//! cancel-safe-irp-queues): [`CsqQueue<T>`].
//!
//! The driver never sees an IO_CSQ. The framework supplies the six callbacks itself:
//! InsertIrpEx (links the IRP at the tail of a list in the queue's pool block), RemoveIrp,
//! PeekNextIrp (walks the list, asking the driver's predicate, if any, through the peek
//! context), AcquireLock/ReleaseLock (a spin lock in the same block) and CompleteCanceledIrp
//! (completes with STATUS_CANCELLED). Queuing is IoCsqInsertIrpEx, removal IoCsqRemoveNextIrp;
//! IoCsqRemoveIrp is not needed (a particular IRP is removed by predicate) and not imported.
//!
//! # Which queue to pick
//!
//! [`CsqQueue`] and [`IrpQueue`](crate::IrpQueue) have the same methods, the same
//! [`QueuedIrp`](crate::QueuedIrp) view for predicates, the same `Unlocked` proofs and the same
//! guarantees:
//! - an IRP is completed exactly once: removed by the driver (which then owns it) or completed
//!   by the cancel routine, never both;
//! - a cancelled IRP never stays queued: one cancelled before or during its insertion is
//!   completed at once;
//! - removal never returns an IRP whose cancel routine has started;
//! - dropping the queue completes what it holds (by the device's DPC at DISPATCH_LEVEL), and
//!   its pool block lives until every cancel routine in flight is done with it.
//!
//! `CsqQueue` is the system's documented mechanism: the cancel protocol (arming, the race with
//! IoCancelIrp, the system cancel routine) is the kernel's code, the one WDK samples such as
//! `general/cancel` use and reviewers expect. `IrpQueue` is the same protocol written by the
//! framework on IoSetCancelRoutine and a spin lock; it imports nothing the IoCsq library adds,
//! so it runs where those exports are missing or stubbed — stock Wine 8 aborts in
//! IoCsqInsertIrp(Ex) and IoCsqRemoveNextIrp, and its IoCsqInitialize leaves the structure
//! unfilled. A `.sys` with a `CsqQueue` imports IoCsqInitializeEx, IoCsqInsertIrpEx and
//! IoCsqRemoveNextIrp from ntoskrnl.exe (present on every Windows since XP).
//!
//! # What the spec leaves open, and what this queue relies on
//!
//! The simulator (`wdm_sim::csq`) decided the open points of spec §5.4 (§10, items 5 and 6);
//! the queue is correct under either choice:
//! - *Whether IoCsqInsertIrpEx marks the IRP pending, and when.* The simulator marks it only
//!   once InsertIrpEx has accepted it (ReactOS marks it first, even when the insert fails). A
//!   `CsqQueue` only queues a [`PendingIrp`], which the dispatch routine marked before it
//!   returned STATUS_PENDING, so the pending contract holds either way. The framework's
//!   InsertIrpEx never refuses (it allocates nothing); should IoCsqInsertIrpEx fail all the
//!   same, the IRP is still the caller's and is completed at once with that status.
//! - *Where CompleteCanceledIrp runs for an IRP found cancelled at insertion.* The simulator
//!   calls it after releasing the queue lock (ReactOS, under it). The framework's
//!   CompleteCanceledIrp completes at once below DISPATCH_LEVEL and hands the IRP to its
//!   device's DPC at DISPATCH_LEVEL, so it never completes under the queue's lock, in either
//!   order (SDV SpinLockSafe). The same holds in the system cancel routine, which runs it at
//!   the IRQL IoCancelIrp was called at.
//! - *PeekNextIrp's `Irp` argument.* IoCsqRemoveNextIrp passes back an IRP PeekNextIrp
//!   offered and whose cancel routine has started; that IRP is still linked (its routine
//!   removes it under the lock the caller holds), so the walk resumes after it.
//! - `DriverContext[3]` is the system's while an IRP is queued; the driver's value `T` lives in
//!   `DriverContext[0..3]`, as in an `IrpQueue`.
//!
//! The block is reference counted as an `IrpQueue`'s is: one reference for the queue, one for
//! every linked IRP, taken by InsertIrpEx under the lock and given up by whoever gets the IRP
//! out — the framework after IoCsqRemoveNextIrp, or CompleteCanceledIrp, the last thing the
//! system does with the queue in its cancel routine.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering, fence};

use wdm_sys::ntddk::{
    InitializeListHead, InsertTailList, IoCsqInitializeEx, IoCsqInsertIrpEx, IoCsqRemoveNextIrp, IsListEmpty,
    KeAcquireSpinLockRaiseToDpc, KeReleaseSpinLock, RemoveEntryList,
};
use wdm_sys::{FILE_OBJECT, IO_CSQ, IRP, KIRQL, KSPIN_LOCK, LIST_ENTRY, NTSTATUS, PIO_CSQ, PIRP, PKIRQL, PVOID};

use crate::irp::PendingIrp;
use crate::pool::PoolBox;
use crate::queue::{QueuedIrp, context_slot};
use crate::{Status, Unlocked};

/// The queue's pool block. `csq` comes first: the callbacks get its address and find the block
/// there. Everything the kernel or other processors write is in an `UnsafeCell`.
#[repr(C)]
struct Block {
    /// Filled by IoCsqInitializeEx, read by the system's routines on any processor.
    csq: UnsafeCell<IO_CSQ>,
    /// The queue's spin lock: AcquireLock/ReleaseLock, and the framework's own walks.
    lock: UnsafeCell<KSPIN_LOCK>,
    /// The IRQL the holder of `lock` raised from (written by whoever acquires it, under it).
    irql: UnsafeCell<KIRQL>,
    /// The queued IRPs, linked through `Tail.Overlay.ListEntry` (touched only under `lock`).
    head: UnsafeCell<LIST_ENTRY>,
    /// One for the [`CsqQueue`], one per linked IRP.
    refs: AtomicUsize,
}

/// The address the system gets: the block's own (repr(C), `csq` first, `UnsafeCell` is
/// transparent), with its provenance, so a callback can turn it back into the block.
fn csq_of(block: NonNull<Block>) -> PIO_CSQ {
    block.as_ptr().cast()
}

/// The block whose IO_CSQ the system passed to a callback.
fn block_of(csq: PIO_CSQ) -> NonNull<Block> {
    // SAFETY: the system passes back the address `csq_of` gave it (never NULL).
    unsafe { NonNull::new_unchecked(csq.cast()) }
}

fn head_of(block: NonNull<Block>) -> wdm_sys::PLIST_ENTRY {
    // SAFETY: a live block (its holders keep it alive); only the field's address is computed.
    UnsafeCell::raw_get(unsafe { &raw const (*block.as_ptr()).head })
}

fn lock_of(block: NonNull<Block>) -> *mut KSPIN_LOCK {
    // SAFETY: as in `head_of`.
    UnsafeCell::raw_get(unsafe { &raw const (*block.as_ptr()).lock })
}

fn irql_of(block: NonNull<Block>) -> *mut KIRQL {
    // SAFETY: as in `head_of`.
    UnsafeCell::raw_get(unsafe { &raw const (*block.as_ptr()).irql })
}

/// Acquires the queue's lock (raising to DISPATCH_LEVEL); returns the previous IRQL, also kept
/// in the block for a release during an unwind.
fn acquire(block: NonNull<Block>) -> KIRQL {
    // SAFETY: a live block's initialized lock word; callers run at or below DISPATCH_LEVEL
    // (IoCsq* callbacks, and framework code holding `&Unlocked` or dropping the queue).
    let old = unsafe { KeAcquireSpinLockRaiseToDpc(lock_of(block)) };
    // SAFETY: under the lock, which guards the field.
    unsafe { irql_of(block).write(old) };
    old
}

/// Releases the queue's lock, lowering to `old`.
///
/// # Safety
/// The caller holds the lock, acquired when the IRQL was `old`.
unsafe fn release(block: NonNull<Block>, old: KIRQL) {
    // SAFETY: the caller's contract.
    unsafe { KeReleaseSpinLock(lock_of(block), old) };
}

/// Lets go of one reference; frees the block with the last.
///
/// # Safety
/// The caller holds a reference it gives up, and touches the block no more.
unsafe fn let_go(block: NonNull<Block>) {
    // SAFETY: the caller's reference keeps the block alive until this decrement.
    if unsafe { block.as_ref() }.refs.fetch_sub(1, Ordering::Release) == 1 {
        // Everything the other holders did to the block happens before the free.
        fence(Ordering::Acquire);
        // SAFETY: the last reference: the queue is gone and no IRP is linked, so neither the
        // system nor the framework reaches the block again; made by `PoolBox::into_raw` in
        // `CsqQueue::new`.
        drop(unsafe { PoolBox::from_raw(block) });
    }
}

/// The framework's own hold on the queue's lock (a walk, a test); released on drop, also when
/// the driver's `visit` unwinds (a panic, or a simulated bug check).
struct Held {
    block: NonNull<Block>,
    old: KIRQL,
}

impl Held {
    fn new(block: NonNull<Block>) -> Self {
        Held {
            block,
            old: acquire(block),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // SAFETY: acquired in `new` at `old`, released once, here.
        unsafe { release(self.block, self.old) };
    }
}

/// What `remove_first` passes to PeekNextIrp as its peek context: the driver's predicate, with
/// its type erased (the callbacks are the same for every `T`).
struct Peek<'a> {
    keep: &'a mut dyn FnMut(NonNull<IRP>) -> bool,
}

/// Releases the queue's lock if the driver's predicate unwinds out of PeekNextIrp (on the
/// simulator; in the kernel a panic is a bug check). The system's IoCsqRemoveNextIrp, which
/// holds the lock, is unwound without releasing it: this does, with the IRQL its AcquireLock
/// kept, so the queue stays usable. Forgotten when the predicate returns.
struct ReleaseOnUnwind(NonNull<Block>);

impl Drop for ReleaseOnUnwind {
    fn drop(&mut self) {
        // SAFETY: under the lock (see below), whose holder wrote the field.
        let old = unsafe { irql_of(self.0).read() };
        // SAFETY: only dropped while unwinding out of PeekNextIrp, which the system calls with
        // the lock held (acquired by `acquire_lock`, which stored the IRQL to restore); nothing
        // that holds the lock runs again on this processor (its frames are being unwound).
        unsafe { release(self.0, old) };
    }
}

wdm_sys::callback! {
    /// InsertIrpEx: links the IRP at the tail. It holds a reference to the block while linked.
    /// Never refuses (nothing to allocate).
    unsafe fn insert_irp(csq: PIO_CSQ, irp: PIRP, _insert_context: PVOID) -> NTSTATUS {
        let block = block_of(csq);
        // Given up by whoever gets the IRP out (never here: the inserter holds the queue).
        // SAFETY: a live block: the inserter holds the queue.
        unsafe { block.as_ref() }.refs.fetch_add(1, Ordering::Relaxed);
        // SAFETY: under the queue lock (the system holds it for InsertIrpEx); the IRP is the
        // inserter's, its list entry free.
        unsafe { InsertTailList(head_of(block), crate::irp::list_entry(irp)) };
        wdm_sys::STATUS_SUCCESS
    }
}

wdm_sys::callback! {
    /// RemoveIrp: unlinks a queued IRP (its reference is given up by whoever now has it).
    unsafe fn remove_irp(_csq: PIO_CSQ, irp: PIRP) {
        // SAFETY: under the queue lock, for an IRP linked in this queue's list.
        unsafe { RemoveEntryList(crate::irp::list_entry(irp)) };
    }
}

wdm_sys::callback! {
    /// PeekNextIrp: the first linked IRP after `irp` (from the head if NULL) that the peek
    /// context's predicate keeps (any, if there is none).
    unsafe fn peek_next(csq: PIO_CSQ, irp: PIRP, peek_context: PVOID) -> PIRP {
        let block = block_of(csq);
        let head = head_of(block);
        let mut e = if irp.is_null() {
            // SAFETY: under the queue lock: an initialized list.
            unsafe { (*head).Flink }
        } else {
            // SAFETY: `irp` is one this routine offered, still linked (see the module docs).
            unsafe { (*crate::irp::list_entry(irp)).Flink }
        };
        let peek = peek_context.cast::<Peek<'_>>();
        while e != head {
            let candidate = crate::irp::irp_of_list_entry(e);
            if peek.is_null() {
                return candidate;
            }
            // SAFETY: linked entries are entries of live IRPs, never NULL.
            let candidate_irp = unsafe { NonNull::new_unchecked(candidate) };
            let unwinding = ReleaseOnUnwind(block);
            // SAFETY: a peek context is only ever a `Peek` on the stack of `take_first`, which
            // waits in IoCsqRemoveNextIrp (this call's caller) and does not touch it meanwhile;
            // the predicate gets the IRP for the call, under the lock.
            let keep = unsafe { ((*peek).keep)(candidate_irp) };
            core::mem::forget(unwinding);
            if keep {
                return candidate;
            }
            // SAFETY: linked entries stay valid while the list is locked.
            e = unsafe { (*e).Flink };
        }
        core::ptr::null_mut()
    }
}

wdm_sys::callback! {
    /// AcquireLock.
    unsafe fn acquire_lock(csq: PIO_CSQ, irql: PKIRQL) {
        let old = acquire(block_of(csq));
        // SAFETY: the system passes its own KIRQL to fill.
        unsafe { irql.write(old) };
    }
}

wdm_sys::callback! {
    /// ReleaseLock.
    unsafe fn release_lock(csq: PIO_CSQ, irql: KIRQL) {
        // SAFETY: the system releases the lock it acquired through `acquire_lock`, with the
        // IRQL that returned.
        unsafe { release(block_of(csq), irql) };
    }
}

wdm_sys::callback! {
    /// CompleteCanceledIrp: a cancelled IRP the system took out of the queue.
    unsafe fn complete_canceled(csq: PIO_CSQ, irp: PIRP) {
        let block = block_of(csq);
        // Unlinked, its cancel routine gone: the IRP is ours to complete. At DISPATCH_LEVEL
        // (possibly under the queue's lock) its device's DPC completes it.
        if let Some(irp) = NonNull::new(irp) {
            crate::irp::complete_cancelled_anywhere(irp);
        }
        // SAFETY: the IRP's reference, given up now that it is out (the last thing the system
        // does with the queue); the block is not touched after this.
        unsafe { let_go(block) };
    }
}

/// A cancel-safe queue of pending IRPs on the system's IoCsq* routines, each IRP with a small
/// value of type `T` the driver attaches when it queues it (`()` by default).
///
/// The same methods, guarantees and [`Unlocked`] proofs as [`IrpQueue`](crate::IrpQueue), and
/// the same [`QueuedIrp`] view for predicates. The difference is who runs the cancel protocol:
/// here the system does (IoCsqInsertIrpEx arms its cancel routine, IoCsqRemoveNextIrp takes it
/// back), the documented mechanism the WDK's `general/cancel` sample uses; the framework writes
/// the six IO_CSQ callbacks, and a predicate runs in its PeekNextIrp, under the queue's spin
/// lock. Pick [`IrpQueue`](crate::IrpQueue) to run where the IoCsq exports are missing or
/// stubbed (stock Wine 8). The image imports IoCsqInitializeEx, IoCsqInsertIrpEx and
/// IoCsqRemoveNextIrp.
///
/// What spec §5.4 leaves open does not matter to it: it only queues a [`PendingIrp`], marked
/// already, so whether and when IoCsqInsertIrpEx marks it pending changes nothing (a refused
/// insertion, which the framework's InsertIrpEx never causes, completes the IRP with the
/// system's status); and its CompleteCanceledIrp never completes under the queue's lock,
/// whether the system calls it after releasing it (the simulator) or under it (ReactOS).
///
/// The value lives in the IRP's `DriverContext[0..3]` (the system uses `DriverContext[3]`), so
/// `T` must be `Copy` and fit in three pointers; a larger `T` does not compile.
///
/// ```
/// use wdm::{CsqQueue, PendingIrp, Status, Unlocked};
///
/// struct Reads {
///     queue: CsqQueue<u32>,
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
pub struct CsqQueue<T: Copy + Send + 'static = ()> {
    block: NonNull<Block>,
    _context: PhantomData<T>,
}

// SAFETY: the block is shared by reference count; its list is only touched under its lock (by
// the system's routines through the callbacks, or by the framework), and the contexts in the
// IRPs are `Send`.
unsafe impl<T: Copy + Send + 'static> Send for CsqQueue<T> {}
// SAFETY: as above: every operation locks.
unsafe impl<T: Copy + Send + 'static> Sync for CsqQueue<T> {}

impl CsqQueue<()> {
    /// Queues `irp`, cancelable (IoCsqInsertIrpEx). If it is already cancelled it is completed
    /// with STATUS_CANCELLED instead (it never stays queued).
    ///
    /// ```
    /// # use wdm::{CsqQueue, Irp, Outcome, Unlocked};
    /// fn park<'irp>(queue: &CsqQueue, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let (pending, pended) = irp.mark_pending();
    ///     queue.insert(pending, cx);
    ///     pended.into()
    /// }
    /// ```
    pub fn insert(&self, irp: PendingIrp, cx: &Unlocked) {
        self.insert_with(irp, (), cx);
    }
}

impl<T: Copy + Send + 'static> CsqQueue<T> {
    /// An empty queue: its IO_CSQ, list head and lock in a pool block (so the queue value can
    /// move), initialized with IoCsqInitializeEx. STATUS_INSUFFICIENT_RESOURCES if the pool has
    /// no room, or IoCsqInitializeEx's error.
    ///
    /// ```
    /// use wdm::{CsqQueue, Status};
    ///
    /// struct Driver {
    ///     reads: CsqQueue,      // no value attached
    ///     timed: CsqQueue<u64>, // a deadline per request
    /// }
    ///
    /// fn init() -> Result<Driver, Status> {
    ///     Ok(Driver { reads: CsqQueue::new()?, timed: CsqQueue::new()? }) // fails without pool
    /// }
    ///
    /// // (on the simulator, kernel code runs inside a simulated kernel)
    /// wdm_sim::Kernel::new().run(|| init().map(drop)).unwrap();
    /// ```
    pub fn new() -> Result<Self, Status> {
        let block = PoolBox::try_new(Block {
            csq: UnsafeCell::new(IO_CSQ::default()),
            lock: UnsafeCell::new(0),
            irql: UnsafeCell::new(0),
            head: UnsafeCell::new(LIST_ENTRY::default()),
            refs: AtomicUsize::new(1),
        })?;
        let block = block.into_raw();
        // SAFETY: the block is ours alone until the queue is returned, and stays put.
        unsafe { InitializeListHead(head_of(block)) };
        // SAFETY: a writable IO_CSQ that outlives every IRP queued in it (reference counted),
        // and callbacks with the signatures the routine expects.
        let status = unsafe {
            IoCsqInitializeEx(
                csq_of(block),
                Some(insert_irp),
                Some(remove_irp),
                Some(peek_next),
                Some(acquire_lock),
                Some(release_lock),
                Some(complete_canceled),
            )
        };
        if let Err(error) = Status::check(status) {
            // SAFETY: from `into_raw` above; nothing else has the block.
            drop(unsafe { PoolBox::from_raw(block) });
            return Err(error);
        }
        Ok(Self {
            block,
            _context: PhantomData,
        })
    }

    fn refs(&self) -> &AtomicUsize {
        // SAFETY: the queue holds a reference to its block for as long as it lives.
        &unsafe { self.block.as_ref() }.refs
    }

    /// Queues `irp` with `context`, cancelable (IoCsqInsertIrpEx). If it is already cancelled
    /// the system completes it (through the framework's CompleteCanceledIrp) with
    /// STATUS_CANCELLED instead: hence `cx`, the proof that no spin lock is held. Were the
    /// insertion refused, the IRP is completed at once with the system's status.
    ///
    /// ```
    /// use wdm::{CsqQueue, Irp, Outcome, Unlocked};
    ///
    /// fn wait<'irp>(queue: &CsqQueue<u64>, due: u64, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    ///     let (pending, pended) = irp.mark_pending();
    ///     queue.insert_with(pending, due, cx);
    ///     pended.into()
    /// }
    /// ```
    pub fn insert_with(&self, irp: PendingIrp, context: T, _cx: &Unlocked) {
        let raw = irp.into_raw();
        // SAFETY: DriverContext[0..3] is the driver's while it owns the IRP.
        unsafe { context_slot::<T>(raw.as_ptr()).write(context) };
        // SAFETY: an initialized queue (alive: `&self`) and a live IRP we own, marked pending
        // (a `PendingIrp`) and sent to this driver's device; no IRP context, no insert context.
        let status = unsafe {
            IoCsqInsertIrpEx(
                csq_of(self.block),
                raw.as_ptr(),
                core::ptr::null_mut(),
                core::ptr::null_mut(),
            )
        };
        if let Err(status) = Status::check(status) {
            // Not queued (InsertIrpEx took no reference): the IRP is still ours.
            // SAFETY: we own it and give it up.
            unsafe { crate::irp::complete_owned(raw, status) };
        }
    }

    /// IoCsqRemoveNextIrp with `peek` as the peek context.
    fn take(&self, peek: PVOID) -> Option<(PendingIrp, T)> {
        // SAFETY: an initialized queue; the peek context is NULL or a live `Peek`.
        let irp = NonNull::new(unsafe { IoCsqRemoveNextIrp(csq_of(self.block), peek) })?;
        // Unlinked by the system, its cancel routine taken back: its reference goes (never the
        // last: the queue holds one).
        self.refs().fetch_sub(1, Ordering::Relaxed);
        // SAFETY: written by `insert_with`; the IRP is ours again.
        let context = unsafe { context_slot::<T>(irp.as_ptr()).read() };
        // SAFETY: out of the queue, routine cleared: the caller's now, still marked pending.
        Some((unsafe { PendingIrp::from_raw(irp) }, context))
    }

    /// Removal by a predicate, which runs in PeekNextIrp under the queue's lock.
    fn take_first(&self, mut keep: impl FnMut(&QueuedIrp<'_, T>) -> bool) -> Option<(PendingIrp, T)> {
        let mut test = |irp: NonNull<IRP>| {
            // SAFETY: PeekNextIrp offers linked IRPs of this queue of `T`, under its lock, and
            // the view lives for this call only.
            keep(&unsafe { QueuedIrp::new(irp) })
        };
        let mut peek = Peek { keep: &mut test };
        self.take((&raw mut peek).cast())
    }

    /// Removes the first queued IRP for which `keep` is true and whose cancel routine has not
    /// started (IoCsqRemoveNextIrp; `keep` is asked by the framework's PeekNextIrp); the caller
    /// owns it. `keep` runs under the queue's spin lock; `cx` (no lock held), borrowed
    /// exclusively for the call, keeps it from taking another lock, calling back into any
    /// queue, or completing anything.
    ///
    /// ```
    /// use wdm::{CsqQueue, Status, Unlocked};
    ///
    /// fn answer(queue: &CsqQueue<u32>, ticket: u32, cx: &mut Unlocked) -> bool {
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
    /// use wdm::{CsqQueue, Status, Unlocked};
    ///
    /// fn oldest_due(queue: &CsqQueue<u64>, now: u64, cx: &mut Unlocked) -> Option<u64> {
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

    /// Removes the first queued IRP whose cancel routine has not started (IoCsqRemoveNextIrp).
    /// `cx`: the queue's lock is a spin lock like the driver's own, taken one at a time (not
    /// under another lock, not from a predicate).
    ///
    /// ```
    /// use wdm::{CsqQueue, Status, Unlocked};
    ///
    /// fn drain(queue: &CsqQueue, cx: &mut Unlocked) {
    ///     while let Some(irp) = queue.remove_next(cx) {
    ///         irp.complete(Status::SUCCESS, cx);
    ///     }
    /// }
    /// ```
    pub fn remove_next(&self, _cx: &Unlocked) -> Option<PendingIrp> {
        self.take(core::ptr::null_mut()).map(|(irp, _)| irp)
    }

    /// As [`remove_next`](Self::remove_next), with the value attached to the IRP.
    ///
    /// ```
    /// use wdm::{CsqQueue, Status, Unlocked};
    ///
    /// fn next_sequence(queue: &CsqQueue<u32>, cx: &mut Unlocked) -> Option<u32> {
    ///     let (irp, sequence) = queue.remove_next_with(cx)?;
    ///     irp.complete(Status::SUCCESS, cx);
    ///     Some(sequence)
    /// }
    /// ```
    pub fn remove_next_with(&self, _cx: &Unlocked) -> Option<(PendingIrp, T)> {
        self.take(core::ptr::null_mut())
    }

    /// Completes every IRP still queued with `status` (for unload, a device going away) and
    /// returns how many. IRPs whose cancel routine has started are left to it (it completes
    /// them with STATUS_CANCELLED).
    ///
    /// ```
    /// use wdm::{CsqQueue, Status, Unlocked};
    ///
    /// fn unload(waiting: &CsqQueue, cx: &mut Unlocked) {
    ///     // Tell the waiting readers the device is gone, rather than "cancelled".
    ///     let _answered = waiting.complete_all(Status::NO_SUCH_DEVICE, cx);
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
    /// handle is closing) whose cancel routine has not started, and returns how many: the
    /// `general/cancel` sample's cleanup, IoCsqRemoveNextIrp with the file object to match.
    /// Those whose routine has started are completed by it, as cancelled too.
    ///
    /// ```
    /// use wdm::{CsqQueue, Irp, Outcome, Status, Unlocked};
    ///
    /// fn cleanup<'irp>(reads: &CsqQueue, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
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
    /// use wdm::{CsqQueue, Unlocked};
    ///
    /// fn earliest_deadline(queue: &CsqQueue<u64>, cx: &mut Unlocked) -> Option<u64> {
    ///     let mut earliest = None;
    ///     queue.for_each(|q| earliest = Some(earliest.map_or(q.context(), |e: u64| e.min(q.context()))), cx);
    ///     earliest
    /// }
    /// ```
    pub fn for_each(&self, mut visit: impl FnMut(&QueuedIrp<'_, T>), _cx: &mut Unlocked) {
        let _held = Held::new(self.block);
        let head = head_of(self.block);
        // SAFETY: the locked list.
        let mut e = unsafe { (*head).Flink };
        while e != head {
            // SAFETY: linked entries are entries of live IRPs, never NULL.
            let irp = unsafe { NonNull::new_unchecked(crate::irp::irp_of_list_entry(e)) };
            // SAFETY: a linked IRP of this queue of `T`; the view is lent for the call, under
            // the lock.
            visit(&unsafe { QueuedIrp::new(irp) });
            // SAFETY: linked entries stay valid while the list is locked.
            e = unsafe { (*e).Flink };
        }
    }

    /// Whether the queue is empty (of IRPs not yet taken by their cancel routine, or not).
    /// `cx`, as for [`remove_next`](Self::remove_next): it takes the queue's lock.
    ///
    /// ```
    /// use wdm::{CsqQueue, Unlocked};
    ///
    /// fn should_keep_ticking(waiting: &CsqQueue<u64>, cx: &Unlocked) -> bool {
    ///     !waiting.is_empty(cx)
    /// }
    /// ```
    pub fn is_empty(&self, _cx: &Unlocked) -> bool {
        let _held = Held::new(self.block);
        // SAFETY: the locked, initialized list.
        unsafe { IsListEmpty(head_of(self.block)) }
    }
}

/// Dropping a queue completes every IRP still in it with STATUS_CANCELLED (to answer them with
/// another status, call [`CsqQueue::complete_all`] first, for example in
/// [`Driver::unload`](crate::Driver::unload)); dropped at DISPATCH_LEVEL (under a lock), by
/// their device's DPC once the lock is released. An IRP whose cancel routine has already
/// started is completed by that routine; the queue's pool block lives until it has finished.
impl<T: Copy + Send + 'static> Drop for CsqQueue<T> {
    fn drop(&mut self) {
        while let Some((irp, _)) = self.take(core::ptr::null_mut()) {
            crate::irp::complete_cancelled_anywhere(irp.into_raw());
        }
        // SAFETY: the queue's own reference, given up here; `self` is not used again.
        unsafe { let_go(self.block) };
    }
}
