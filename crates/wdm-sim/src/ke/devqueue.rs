//! Device queues (`KDEVICE_QUEUE`), as ReactOS's devqueue.c and the DDI pages define them
//! (spec §2).
//!
//! `Busy` means "the device is owned by an IRP handed to StartIo and not yet followed by a
//! start-next call"; it does not mean the list is non-empty. Every routine here works under the
//! queue's own spin lock (its `Lock` field).
//!
//! Decisions on the spec's open points:
//! - KeRemoveByKeyDeviceQueue returns the first entry whose key is >= the given key, else the
//!   head: the DDI wording, not ReactOS's shortcut (which returns the head whenever the tail key
//!   is <= the given key, even when an entry equal to it exists). Tested.
//! - KeRemoveEntryDeviceQueue never changes `Busy` (ReactOS): clearing it while the current IRP
//!   is in flight would let a second StartIo start.
//! - KeRemoveDeviceQueue on a queue that is not busy is reported as DEVICE_QUEUE_NOT_BUSY (0x2).

use wdm_sys::ntddk::{InitializeListHead, InsertTailList, IsListEmpty, RemoveEntryList};
use wdm_sys::{BOOLEAN, KDEVICE_QUEUE_ENTRY, LIST_ENTRY, PKDEVICE_QUEUE, PKDEVICE_QUEUE_ENTRY, PLIST_ENTRY, ULONG};

use crate::kernel::{State, current};
use crate::report::Rule;
use crate::spinlock::{self, LockKind};

/// Initializes a device queue: empty, not busy.
///
/// # Safety
/// `queue` must be valid for writes.
pub(crate) unsafe fn initialize(queue: PKDEVICE_QUEUE) {
    // Raw places, not a `&mut KDEVICE_QUEUE`: the head's self-links must carry `queue`'s
    // provenance, not a temporary reference's, which the next access through another pointer
    // would invalidate (the first insert would then write through a dead tag).
    // SAFETY: the caller guarantees a writable queue.
    unsafe { (*queue).Type = 0x14 }; // DeviceQueueObject
    // SAFETY: as above.
    unsafe { (*queue).Size = size_of::<wdm_sys::KDEVICE_QUEUE>() as i16 };
    // SAFETY: as above; only the head's address is computed.
    let head = unsafe { &raw mut (*queue).DeviceListHead };
    // SAFETY: the list head is inside the writable queue.
    unsafe { InitializeListHead(head) };
    // SAFETY: as above.
    unsafe { (*queue).Lock = 0 };
    // SAFETY: as above; only the field's address is computed.
    let busy = unsafe { &raw mut (*queue).__bindgen_anon_1.Busy };
    // SAFETY: `Busy` is the byte every writer uses (the bit-field member overlays it).
    unsafe { busy.write(0) };
}

/// `KeInitializeDeviceQueue`.
///
/// # Safety
/// Kernel routine: `queue` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeInitializeDeviceQueue(queue: PKDEVICE_QUEUE) {
    // SAFETY: forwarded contract.
    unsafe { initialize(queue) }
}

/// A queue locked by this processor; unlocks on drop.
pub(crate) struct Locked<'a> {
    k: &'a State,
    queue: PKDEVICE_QUEUE,
}

impl<'a> Locked<'a> {
    /// Locks `queue` (its own spin lock, taken at DISPATCH_LEVEL like KeInsertDeviceQueue does).
    ///
    /// # Safety
    /// `queue` must be an initialized device queue.
    pub(crate) unsafe fn new(k: &'a State, queue: PKDEVICE_QUEUE) -> Self {
        // SAFETY: the lock word is inside the valid queue.
        let lock = unsafe { &raw mut (*queue).Lock };
        spinlock::acquire(k, lock, LockKind::AtDpc, "device queue");
        Self { k, queue }
    }

    fn head(&self) -> PLIST_ENTRY {
        // SAFETY: the queue is valid (constructor's contract).
        unsafe { &raw mut (*self.queue).DeviceListHead }
    }

    /// `Busy`: a field, never the whole queue (a `&mut KDEVICE_QUEUE` would also cover its
    /// lock word, which other processors are spinning on atomically).
    fn busy_field(&self) -> *mut BOOLEAN {
        // SAFETY: the queue is valid (constructor's contract); only the field's address is
        // computed (`Busy` is the byte every writer uses: the bit-field member overlays it).
        unsafe { &raw mut (*self.queue).__bindgen_anon_1.Busy }
    }

    pub(crate) fn busy(&mut self) -> bool {
        // SAFETY: locked by this processor, the only one that touches `Busy` until the guard
        // drops.
        unsafe { *self.busy_field() != 0 }
    }

    pub(crate) fn set_busy(&mut self, busy: bool) {
        // SAFETY: as in `busy`.
        unsafe { *self.busy_field() = BOOLEAN::from(busy) };
    }

    /// The entries, head first.
    pub(crate) fn entries(&self) -> Vec<PKDEVICE_QUEUE_ENTRY> {
        let head = self.head();
        let mut out = Vec::new();
        // SAFETY: the list is valid and locked; entries stay linked while we walk.
        let mut e = unsafe { (*head).Flink };
        while e != head {
            out.push(e.cast::<KDEVICE_QUEUE_ENTRY>());
            // SAFETY: as above.
            e = unsafe { (*e).Flink };
        }
        out
    }

    pub(crate) fn is_empty(&self) -> bool {
        // SAFETY: the list head is valid and locked.
        unsafe { IsListEmpty(self.head()) }
    }

    /// Inserts at the tail, or before the first entry with a key greater than `key`.
    fn insert(&mut self, entry: PKDEVICE_QUEUE_ENTRY, key: Option<ULONG>) {
        // Raw places, not a `&mut KDEVICE_QUEUE_ENTRY`: the link stored in the list keeps
        // `entry`'s provenance (see `initialize`).
        // SAFETY: `entry` is the caller's valid entry, not in any list.
        unsafe { (*entry).Inserted = 1 };
        // SAFETY: as above; only the field's address is computed.
        let link: PLIST_ENTRY = unsafe { &raw mut (*entry).DeviceListEntry };
        let before = key.and_then(|key| {
            // SAFETY: as above.
            unsafe { (*entry).SortKey = key };
            // SAFETY: queued entries are valid while queued.
            self.entries().into_iter().find(|&x| unsafe { (*x).SortKey } > key)
        });
        match before {
            // SAFETY: `b` is linked in this locked queue and `link` is free.
            Some(b) => unsafe { insert_before(b.cast::<LIST_ENTRY>(), link) },
            // SAFETY: a valid head and a free entry.
            None => unsafe { InsertTailList(self.head(), link) },
        }
    }

    /// Unlinks `entry` (which must be queued here).
    fn unlink(&mut self, entry: PKDEVICE_QUEUE_ENTRY) {
        // Raw places: a `&mut` to the whole entry would retag its links while they are still
        // in the list.
        // SAFETY: the entry is valid; only the link's address is computed.
        let link = unsafe { &raw mut (*entry).DeviceListEntry };
        // SAFETY: the entry is linked into this locked queue, and stays valid.
        unsafe { RemoveEntryList(link) };
        // SAFETY: as above.
        unsafe { (*entry).Inserted = 0 };
    }
}

/// Links `entry` right before `at`.
///
/// # Safety
/// `at` must be linked in a valid list; `entry` must be writable and unlinked.
unsafe fn insert_before(at: PLIST_ENTRY, entry: PLIST_ENTRY) {
    // SAFETY: `at` is linked, so its Blink is valid.
    let prev = unsafe { (*at).Blink };
    // SAFETY: `entry` is writable.
    unsafe { entry.write(LIST_ENTRY { Flink: at, Blink: prev }) };
    // SAFETY: `prev` is a valid entry of the list.
    unsafe { (*prev).Flink = entry };
    // SAFETY: `at` is a valid entry of the list.
    unsafe { (*at).Blink = entry };
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: the queue is valid; we hold its lock.
        let lock = unsafe { &raw mut (*self.queue).Lock };
        spinlock::release(self.k, lock, LockKind::AtDpc, "device queue");
    }
}

/// KeInsert(ByKey)DeviceQueue: if the device is idle, marks it busy and returns false (the
/// caller processes the entry itself); otherwise queues it and returns true.
pub(crate) fn insert(k: &State, queue: PKDEVICE_QUEUE, entry: PKDEVICE_QUEUE_ENTRY, key: Option<ULONG>) -> bool {
    // SAFETY: the caller passes an initialized queue.
    let mut q = unsafe { Locked::new(k, queue) };
    if let Some(key) = key {
        // SAFETY: the caller's valid entry.
        unsafe { (*entry).SortKey = key };
    }
    if !q.busy() {
        q.set_busy(true);
        // SAFETY: the caller's valid entry.
        unsafe { (*entry).Inserted = 0 };
        return false;
    }
    q.insert(entry, key);
    true
}

/// KeRemove(ByKey)DeviceQueue: the next entry (NULL and not busy when empty).
pub(crate) fn remove(
    k: &State,
    queue: PKDEVICE_QUEUE,
    key: Option<ULONG>,
    routine: &'static str,
    if_busy: bool,
) -> PKDEVICE_QUEUE_ENTRY {
    // SAFETY: the caller passes an initialized queue.
    let mut q = unsafe { Locked::new(k, queue) };
    if !q.busy() {
        if if_busy {
            return std::ptr::null_mut();
        }
        drop(q);
        k.report(
            Rule::DeviceQueueNotBusy,
            routine,
            None,
            [queue as usize, 0, 0, 0],
            "removing from a device queue that is not busy (no start-next without a started packet)".into(),
        );
        return std::ptr::null_mut();
    }
    if q.is_empty() {
        q.set_busy(false);
        return std::ptr::null_mut();
    }
    let entries = q.entries();
    let chosen = match key {
        // SAFETY: queued entries are valid.
        Some(key) => entries
            .iter()
            .copied()
            .find(|&e| unsafe { (*e).SortKey } >= key)
            .unwrap_or(entries[0]),
        None => entries[0],
    };
    q.unlink(chosen);
    chosen
}

/// `KeInsertDeviceQueue`.
///
/// # Safety
/// Kernel routine: valid queue and entry.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeInsertDeviceQueue(queue: PKDEVICE_QUEUE, entry: PKDEVICE_QUEUE_ENTRY) -> BOOLEAN {
    let k = current();
    spinlock::require_dispatch(k, "KeInsertDeviceQueue");
    BOOLEAN::from(insert(k, queue, entry, None))
}

/// `KeInsertByKeyDeviceQueue`.
///
/// # Safety
/// Kernel routine: valid queue and entry.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeInsertByKeyDeviceQueue(
    queue: PKDEVICE_QUEUE,
    entry: PKDEVICE_QUEUE_ENTRY,
    key: ULONG,
) -> BOOLEAN {
    let k = current();
    spinlock::require_dispatch(k, "KeInsertByKeyDeviceQueue");
    BOOLEAN::from(insert(k, queue, entry, Some(key)))
}

/// `KeRemoveDeviceQueue`.
///
/// # Safety
/// Kernel routine: a valid queue.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeRemoveDeviceQueue(queue: PKDEVICE_QUEUE) -> PKDEVICE_QUEUE_ENTRY {
    let k = current();
    spinlock::require_dispatch(k, "KeRemoveDeviceQueue");
    remove(k, queue, None, "KeRemoveDeviceQueue", false)
}

/// `KeRemoveByKeyDeviceQueue`.
///
/// # Safety
/// Kernel routine: a valid queue.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeRemoveByKeyDeviceQueue(queue: PKDEVICE_QUEUE, key: ULONG) -> PKDEVICE_QUEUE_ENTRY {
    let k = current();
    spinlock::require_dispatch(k, "KeRemoveByKeyDeviceQueue");
    remove(k, queue, Some(key), "KeRemoveByKeyDeviceQueue", false)
}

/// `KeRemoveByKeyDeviceQueueIfBusy`: NULL on an idle queue instead of a violation.
///
/// # Safety
/// Kernel routine: a valid queue.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeRemoveByKeyDeviceQueueIfBusy(
    queue: PKDEVICE_QUEUE,
    key: ULONG,
) -> PKDEVICE_QUEUE_ENTRY {
    let k = current();
    spinlock::require_dispatch(k, "KeRemoveByKeyDeviceQueueIfBusy");
    remove(k, queue, Some(key), "KeRemoveByKeyDeviceQueueIfBusy", true)
}

/// `KeRemoveEntryDeviceQueue`: unlinks `entry` if it is queued (TRUE), else FALSE. Never
/// changes `Busy`.
///
/// # Safety
/// Kernel routine: valid queue and entry.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn KeRemoveEntryDeviceQueue(
    queue: PKDEVICE_QUEUE,
    entry: PKDEVICE_QUEUE_ENTRY,
) -> BOOLEAN {
    let k = current();
    if crate::irql::get() > wdm_sys::DISPATCH_LEVEL as u8 {
        spinlock::require_dispatch(k, "KeRemoveEntryDeviceQueue");
    }
    // The routine raises to DISPATCH_LEVEL around its work.
    let old = crate::irql::get();
    crate::irql::set(wdm_sys::DISPATCH_LEVEL as u8);
    // SAFETY: the caller passes an initialized queue.
    let mut q = unsafe { Locked::new(k, queue) };
    // SAFETY: the caller's valid entry.
    let queued = unsafe { (*entry).Inserted } != 0;
    if queued {
        q.unlink(entry);
    }
    drop(q);
    crate::irql::set(old);
    BOOLEAN::from(queued)
}
