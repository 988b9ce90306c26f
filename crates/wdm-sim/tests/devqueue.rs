//! Device-queue primitives (spec §2), called directly at DISPATCH_LEVEL.

#![allow(
    clippy::multiple_unsafe_ops_per_block,
    clippy::missing_safety_doc,
    clippy::undocumented_unsafe_blocks
)]
// Each test body is one scenario of raw calls on a local queue at DISPATCH_LEVEL.

use wdm_sim::{Kernel, Rule};
use wdm_sys::ntddk::*;
use wdm_sys::*;

/// A queue and its entries, each in a block of its own reached only through raw pointers: the
/// kernel links them to each other, so no `Box` or `&mut` may claim them while they are queued
/// (moving a `Box`, or reborrowing one mutably, would invalidate the stored links under Miri).
struct Queue {
    queue: *mut KDEVICE_QUEUE,
    entries: Vec<*mut KDEVICE_QUEUE_ENTRY>,
}

impl Queue {
    fn new(n: usize) -> Self {
        let queue = Box::into_raw(Box::new(KDEVICE_QUEUE::default()));
        // SAFETY: a writable queue.
        unsafe { KeInitializeDeviceQueue(queue) };
        Self {
            queue,
            entries: (0..n)
                .map(|_| Box::into_raw(Box::new(KDEVICE_QUEUE_ENTRY::default())))
                .collect(),
        }
    }
    fn q(&mut self) -> PKDEVICE_QUEUE {
        self.queue
    }
    fn e(&mut self, i: usize) -> PKDEVICE_QUEUE_ENTRY {
        self.entries[i]
    }
    fn inserted(&self, i: usize) -> BOOLEAN {
        // SAFETY: a live entry.
        unsafe { (*self.entries[i]).Inserted }
    }
    fn index(&self, e: PKDEVICE_QUEUE_ENTRY) -> Option<usize> {
        self.entries.iter().position(|&x| std::ptr::eq(x, e))
    }
    fn busy(&self) -> bool {
        // SAFETY: reading the queue's Busy byte.
        unsafe { (*self.queue).__bindgen_anon_1.Busy != 0 }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: allocated by `Box::new` in `new`, freed once, here.
        unsafe {
            drop(Box::from_raw(self.queue));
            for &e in &self.entries {
                drop(Box::from_raw(e));
            }
        }
    }
}

fn at_dispatch<R>(kernel: &Kernel, f: impl FnOnce() -> R) -> R {
    kernel.run(|| {
        // SAFETY: raising from PASSIVE_LEVEL and lowering back.
        let old = unsafe { KfRaiseIrql(DISPATCH_LEVEL as u8) };
        let r = f();
        // SAFETY: as above.
        unsafe { KeLowerIrql(old) };
        r
    })
}

#[test]
fn insert_on_an_idle_queue_takes_the_device_and_queues_nothing() {
    let kernel = Kernel::new();
    let mut q = Queue::new(3);
    at_dispatch(&kernel, || unsafe {
        assert_eq!(KeInsertDeviceQueue(q.q(), q.e(0)), 0, "idle: the caller processes it");
        assert!(q.busy());
        assert_eq!(q.inserted(0), 0);
        assert_eq!(KeInsertDeviceQueue(q.q(), q.e(1)), 1);
        assert_eq!(KeInsertDeviceQueue(q.q(), q.e(2)), 1);
        let first = KeRemoveDeviceQueue(q.q());
        assert_eq!(q.index(first), Some(1));
        assert!(q.busy(), "still busy with the removed entry");
        assert_eq!(
            {
                let e = KeRemoveDeviceQueue(q.q());
                q.index(e)
            },
            Some(2)
        );
        assert!(KeRemoveDeviceQueue(q.q()).is_null());
        assert!(!q.busy(), "empty: the device is idle");
    });
    kernel.assert_clean();
}

#[test]
fn by_key_insertion_keeps_equal_keys_fifo() {
    let kernel = Kernel::new();
    let mut q = Queue::new(6);
    let order: Vec<usize> = at_dispatch(&kernel, || unsafe {
        KeInsertByKeyDeviceQueue(q.q(), q.e(0), 0); // takes the idle device
        for (i, key) in [(1, 5), (2, 3), (3, 5), (4, 1), (5, 3)] {
            KeInsertByKeyDeviceQueue(q.q(), q.e(i), key);
        }
        (0..5)
            .map(|_| {
                let e = KeRemoveDeviceQueue(q.q());
                q.index(e).unwrap()
            })
            .collect()
    });
    // Keys 1, 3, 3, 5, 5: equal keys in insertion order.
    assert_eq!(order, [4, 2, 5, 1, 3]);
}

#[test]
fn remove_by_key_follows_the_ddi_when_the_key_is_the_maximum() {
    // Keys 1 (head) and 7 (tail); remove by key 7. The DDI: the first entry with key >= 7 is the
    // tail. ReactOS's shortcut (tail key <= k: return the head) would return the head.
    let kernel = Kernel::new();
    let mut q = Queue::new(3);
    let got = at_dispatch(&kernel, || unsafe {
        KeInsertByKeyDeviceQueue(q.q(), q.e(0), 0);
        KeInsertByKeyDeviceQueue(q.q(), q.e(1), 1);
        KeInsertByKeyDeviceQueue(q.q(), q.e(2), 7);
        {
            let e = KeRemoveByKeyDeviceQueue(q.q(), 7);
            q.index(e)
        }
    });
    assert_eq!(got, Some(2));
    // No entry >= the key: the head.
    let mut q = Queue::new(3);
    let got = at_dispatch(&kernel, || unsafe {
        KeInsertByKeyDeviceQueue(q.q(), q.e(0), 0);
        KeInsertByKeyDeviceQueue(q.q(), q.e(1), 1);
        KeInsertByKeyDeviceQueue(q.q(), q.e(2), 7);
        {
            let e = KeRemoveByKeyDeviceQueue(q.q(), 9);
            q.index(e)
        }
    });
    assert_eq!(got, Some(1));
}

#[test]
fn remove_entry_never_changes_busy() {
    let kernel = Kernel::new();
    let mut q = Queue::new(2);
    at_dispatch(&kernel, || unsafe {
        KeInsertDeviceQueue(q.q(), q.e(0));
        KeInsertDeviceQueue(q.q(), q.e(1));
        assert_eq!(KeRemoveEntryDeviceQueue(q.q(), q.e(1)), 1);
        assert_eq!(KeRemoveEntryDeviceQueue(q.q(), q.e(1)), 0, "not queued any more");
        assert!(q.busy(), "the current entry still owns the device");
    });
}

#[test]
fn if_busy_variant_returns_null_on_an_idle_queue() {
    let kernel = Kernel::new();
    let mut q = Queue::new(1);
    let got = at_dispatch(&kernel, || unsafe { KeRemoveByKeyDeviceQueueIfBusy(q.q(), 0) });
    assert!(got.is_null());
    kernel.assert_clean();
}

#[test]
fn remove_from_an_idle_queue_is_0x2_and_insert_below_dispatch_is_reported() {
    let kernel = Kernel::new();
    let mut q = Queue::new(1);
    let bug = kernel
        .catch(|| at_dispatch(&kernel, || unsafe { KeRemoveDeviceQueue(q.q()) }))
        .unwrap_err();
    assert_eq!(bug.0.rule, Rule::DeviceQueueNotBusy);
    let kernel = Kernel::new();
    let mut q = Queue::new(1);
    // SAFETY: a valid queue, at PASSIVE_LEVEL on purpose.
    let bug = kernel
        .catch(|| kernel.run(|| unsafe { KeInsertDeviceQueue(q.q(), q.e(0)) }))
        .unwrap_err();
    assert_eq!(bug.0.rule, Rule::IrqlNotDispatch);
}
