//! The standing hostile suite, on the simulator: attacks on the framework's guarantees, made
//! with safe code only, that compile (so `tests/ui` cannot reject them) and must be shown
//! harmless at run time. Grouped by the guarantee attacked; docs/soundness.md lists them with
//! the compile-fail cases that cover the rest.

// The attacks on closure-scoped locks try to `mem::forget` what a lock lends; it is a
// reference, which is the point (and what the lint says).
#![allow(forgetting_references)]

use wdm::{
    CancelLock, DeviceOptions, Dispatch, Driver, DriverObject, Irp, IrpQueue, Outcome, SpinLock, Status, Unlocked,
    utf16,
};
use wdm_sim::Kernel;

/// Every IOCTL the drivers below answer.
const POKE: u32 = 0x222000;

/// The device every driver below creates.
const DEVICE: DeviceOptions = DeviceOptions::new()
    .name(utf16!("\\Device\\Hostile"))
    .symbolic_link(utf16!("\\DosDevices\\Hostile"));

fn ok<'irp, D>(_: &D, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    irp.complete(Status::SUCCESS, cx).into()
}

fn printed(kernel: &Kernel, what: &str) -> usize {
    kernel.debug_output().iter().filter(|l| l.text.contains(what)).count()
}

/// SDV StartIoRecursion and "every packet is finished": StartIo finishing inline (directly, or
/// held and finished at once — the hostile review's row 4), and packets dropped unfinished
/// (row 6).
mod start_io {
    use super::*;
    use wdm::start_io::{
        Cancelable, HeldPacket, Packet, RemoveAndComplete, Running, Set, StartIoState, WithCancelRoutine,
    };
    use wdm::{DispatchLevel, StartIo};

    /// What StartIo does with packet `n` (counting from 0).
    #[derive(Clone, Copy)]
    enum Policy {
        /// Packet 0 is held for the "hardware"; the others are finished inside StartIo,
        /// alternately directly and by holding and finishing at once.
        FinishInline,
        /// Every packet is dropped unfinished.
        Drop,
        /// Every packet is held; the "hardware" IOCTL drops the held packet.
        HoldThenDrop,
    }

    struct Device<const P: u8> {
        device: wdm::Device<StartIoState<Self, WithCancelRoutine<RemoveAndComplete>, Set<Cancelable>>>,
        held: SpinLock<Option<HeldPacket>>,
        started: core::sync::atomic::AtomicUsize,
    }

    const fn policy(p: u8) -> Policy {
        match p {
            0 => Policy::FinishInline,
            1 => Policy::Drop,
            _ => Policy::HoldThenDrop,
        }
    }

    impl<const P: u8> Driver for Device<P> {
        const DISPATCH: Dispatch<Self> = Dispatch::new()
            .create(ok)
            .close(ok)
            .read(Self::read)
            .device_control(Self::hardware);

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            let device = driver
                .create_device(&DEVICE)?
                .start_io(driver)
                .cancel_routine::<RemoveAndComplete>()
                .set_start_io_attributes(Cancelable);
            Ok(Device {
                device,
                held: SpinLock::new(None),
                started: Default::default(),
            })
        }
    }

    impl<const P: u8> StartIo for Device<P> {
        fn start_io(
            &self,
            _device: wdm::Device<Running>,
            packet: Packet<'_>,
            level: &DispatchLevel,
            cx: &mut Unlocked,
        ) {
            let n = self.started.fetch_add(1, core::sync::atomic::Ordering::SeqCst);
            match policy(P) {
                Policy::FinishInline if n == 0 => drop(self.held.with(cx, |h| h.replace(packet.hold()))),
                Policy::FinishInline if n.is_multiple_of(2) => packet.finish(Status::SUCCESS, n, cx),
                Policy::FinishInline => packet.hold().finish(Status::SUCCESS, n, level, cx),
                Policy::Drop => drop(packet),
                Policy::HoldThenDrop => drop(self.held.with(cx, |h| h.replace(packet.hold()))),
            }
        }
    }

    impl<const P: u8> Device<P> {
        fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let (pending, pended) = irp.mark_pending();
            self.device.start_packet(pending, cx);
            pended.into()
        }

        /// The "hardware": finishes (policy 0) or drops (policy 2) the held packet.
        fn hardware<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let held = self.held.with(cx, Option::take);
            if let Some(held) = held {
                match policy(P) {
                    Policy::HoldThenDrop => drop(held),
                    _ => wdm::at_dispatch(|level| held.finish(Status::SUCCESS, 0, level, cx)),
                }
            }
            irp.complete(Status::SUCCESS, cx).into()
        }
    }

    #[test]
    fn finishing_inside_start_io_never_recurses() {
        let kernel = Kernel::new();
        let driver = kernel.load("hostile", wdm::entry::<Device<0>>).unwrap();
        let file = kernel.open(r"\\.\Hostile").unwrap();
        // The first read is held by the "hardware", so the next five queue behind it; releasing
        // it starts them one after the other, each finished inside StartIo (directly or held
        // and finished at once). Without deferral each finish would enter StartIo again from
        // inside it, five deep; the simulator reports StartIoRecursion for that.
        let reads: Vec<_> = (0..6).map(|_| file.start_read(1)).collect();
        assert!(!reads[0].is_done());
        file.ioctl(POKE, &[], 0);
        for (n, r) in reads.into_iter().enumerate() {
            let r = r.wait();
            assert_eq!(r.status, Status::SUCCESS.raw(), "read {n}");
            assert_eq!(
                r.information,
                if n == 0 { 0 } else { n },
                "read {n} finished by StartIo {n}"
            );
        }
        file.close();
        driver.unload();
        kernel.assert_clean(); // no StartIoRecursion, no ConcurrentStartIo, nothing leaked
    }

    #[test]
    fn a_packet_start_io_drops_is_finished_as_cancelled_and_the_queue_moves_on() {
        let kernel = Kernel::new();
        let driver = kernel.load("hostile", wdm::entry::<Device<1>>).unwrap();
        let file = kernel.open(r"\\.\Hostile").unwrap();
        for n in 0..3 {
            assert_eq!(file.read(1).status, Status::CANCELLED.raw(), "read {n}");
        }
        assert_eq!(printed(&kernel, "StartIo packet was dropped unfinished"), 3);
        file.close();
        driver.unload();
        kernel.assert_clean();
    }

    #[test]
    fn a_held_packet_dropped_is_finished_as_cancelled_and_the_queue_moves_on() {
        let kernel = Kernel::new();
        let driver = kernel.load("hostile", wdm::entry::<Device<2>>).unwrap();
        let file = kernel.open(r"\\.\Hostile").unwrap();
        let reads: Vec<_> = (0..3).map(|_| file.start_read(1)).collect();
        for (n, read) in reads.iter().enumerate() {
            assert!(!read.is_done(), "read {n} is held");
            file.ioctl(POKE, &[], 0); // drops it: finished as cancelled, the next one starts
            assert!(read.is_done(), "read {n} finished by the drop");
        }
        for r in reads {
            assert_eq!(r.wait().status, Status::CANCELLED.raw());
        }
        assert_eq!(printed(&kernel, "held StartIo packet was dropped unfinished"), 3);
        file.close();
        driver.unload();
        kernel.assert_clean();
    }
}

/// SDV CancelSpinLock / SpinLockSafe in a Cancel routine: the attacks of rows 7 and 10.
mod cancel_routine {
    use super::*;
    use wdm::start_io::{
        CancelRoutine, CancelledIrp, NonCancelable, Packet, Running, Set, StartIoState, WithCancelRoutine,
    };
    use wdm::{CancelLockReleased, DispatchLevel, StartIo};

    /// Row 7: `let _ = irp.remove(..)` drops the removed IRP — after the lock is released,
    /// because removing releases it. Row 10: after releasing, take the cancel lock again and
    /// `mem::forget` what `with` lends — a reference; the framework still releases.
    struct Hostile;

    impl<D> CancelRoutine<D> for Hostile {
        fn cancel<'c>(_driver: &D, irp: CancelledIrp<'c>, lock: CancelLock<'c>) -> CancelLockReleased<'c> {
            let (_dropped_here, mut released) = irp.remove(lock); // completed as cancelled by the drop
            CancelLock::with(released.unlocked(), |held| core::mem::forget(held));
            released
        }
    }

    struct Queued {
        device: wdm::Device<StartIoState<Self, WithCancelRoutine<Hostile>, Set<NonCancelable>>>,
        held: SpinLock<Option<wdm::start_io::HeldPacket>>,
    }

    impl Driver for Queued {
        const DISPATCH: Dispatch<Self> = Dispatch::new()
            .create(ok)
            .close(ok)
            .read(Self::read)
            .device_control(Self::hardware);

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            let device = driver
                .create_device(&DEVICE)?
                .start_io(driver)
                .cancel_routine::<Hostile>()
                .set_start_io_attributes(NonCancelable);
            Ok(Queued {
                device,
                held: SpinLock::new(None),
            })
        }
    }

    impl StartIo for Queued {
        fn start_io(
            &self,
            _device: wdm::Device<Running>,
            packet: Packet<'_>,
            _level: &DispatchLevel,
            cx: &mut Unlocked,
        ) {
            drop(self.held.with(cx, |h| h.replace(packet.hold())));
        }
    }

    impl Queued {
        fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let (pending, pended) = irp.mark_pending();
            self.device.start_packet(pending, cx);
            pended.into()
        }

        fn hardware<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            if let Some(held) = self.held.with(cx, Option::take) {
                wdm::at_dispatch(|level| held.finish(Status::SUCCESS, 0, level, cx));
            }
            irp.complete(Status::SUCCESS, cx).into()
        }
    }

    #[test]
    fn dropping_the_removed_irp_and_forgetting_a_lent_lock_are_harmless() {
        let kernel = Kernel::new();
        let driver = kernel.load("hostile", wdm::entry::<Queued>).unwrap();
        let file = kernel.open(r"\\.\Hostile").unwrap();
        let first = file.start_read(1); // held by StartIo
        let queued = file.start_read(1); // in the device queue
        assert!(queued.cancel(), "the Cancel routine ran");
        assert_eq!(queued.wait().status, Status::CANCELLED.raw());
        // No CalledHoldingSpinLock (the drop came after the release), no 0x11B (the routine
        // returned without the cancel lock), nothing else.
        assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
        file.ioctl(POKE, &[], 0);
        assert_eq!(first.wait().status, Status::SUCCESS.raw());
        file.close();
        driver.unload();
        kernel.assert_clean();
    }
}

/// SpinLock/SpinlockRelease and SpinLockSafe: row 11, `mem::forget` of a lock guard. Locking is
/// closure-scoped: what the closure gets is a reference, and forgetting it releases nothing
/// early and keeps nothing held.
mod spin_lock {
    use super::*;

    struct Counter {
        count: SpinLock<u32>,
    }

    impl Driver for Counter {
        const DISPATCH: Dispatch<Self> = Dispatch::new().create(ok).close(ok).device_control(Self::poke);

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            driver.create_device(&DEVICE)?;
            Ok(Counter {
                count: SpinLock::new(0),
            })
        }
    }

    impl Counter {
        fn poke<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let n = self.count.with(cx, |n| {
                *n += 1;
                let copy = *n;
                core::mem::forget(n); // the attack: there is no guard to forget
                copy
            });
            CancelLock::with(cx, |lock| core::mem::forget(lock));
            irp.complete_with(Status::SUCCESS, n as usize, cx).into()
        }
    }

    #[test]
    fn forgetting_what_a_lock_lends_keeps_no_lock_held() {
        let kernel = Kernel::new();
        let driver = kernel.load("hostile", wdm::entry::<Counter>).unwrap();
        let file = kernel.open(r"\\.\Hostile").unwrap();
        for n in 1..=3 {
            // A lock left held would make the second IOCTL spin forever (0xF on the simulator)
            // and the completion run at DISPATCH_LEVEL under a lock (CalledHoldingSpinLock).
            assert_eq!(file.ioctl(POKE, &[], 0).information, n);
        }
        file.close();
        driver.unload();
        kernel.assert_clean();
    }
}

/// The cancel-safe queue's memory: a queue dropped while a Cancel routine that IoCancelIrp has
/// already taken is about to lock it (found by reading `src/queue.rs`).
mod queue_lifetime {
    use super::*;
    use std::sync::Mutex;
    use wdm_sim::explore::{Explorer, Work};

    /// Reads wait in a queue the driver can drop at any time (an IOCTL drops it).
    struct Dropper {
        queue: Mutex<Option<IrpQueue>>,
    }

    impl Driver for Dropper {
        const DISPATCH: Dispatch<Self> = Dispatch::new()
            .create(ok)
            .close(ok)
            .read(Self::read)
            .device_control(Self::drop_queue);

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            driver.create_device(&DEVICE)?;
            Ok(Dropper {
                queue: Mutex::new(Some(IrpQueue::new()?)),
            })
        }
    }

    impl Dropper {
        fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let queue = self.queue.lock().unwrap();
            match queue.as_ref() {
                Some(queue) => {
                    let (pending, pended) = irp.mark_pending();
                    queue.insert(pending, cx);
                    pended.into()
                }
                None => irp.complete(Status::INVALID_DEVICE_STATE, cx).into(),
            }
        }

        fn drop_queue<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let queue = self.queue.lock().unwrap().take();
            drop(queue); // completes what is still queued with STATUS_CANCELLED
            irp.complete(Status::SUCCESS, cx).into()
        }
    }

    #[test]
    fn a_queue_dropped_while_its_cancel_routine_runs_is_freed_after_it() {
        // CPU0 cancels the queued read (IoCancelIrp takes the queue's Cancel routine, which
        // releases the cancel lock and then locks the queue); CPU1 drops the queue. In every
        // schedule the read completes once, as cancelled, and the queue's pool block is freed
        // exactly once, after the Cancel routine is done with it.
        let report = Explorer::exhaustive(2).run(|kernel, cpus| {
            let driver = kernel
                .load("hostile", wdm::entry::<Dropper>)
                .map_err(|s| format!("{s:#x}"))?;
            let file = kernel.open(r"\\.\Hostile").map_err(|s| format!("{s:#x}"))?;
            let read = file.start_read(1);
            let work: Vec<Work<'_>> = vec![
                Box::new(|| {
                    read.cancel();
                }),
                Box::new(|| {
                    file.ioctl(POKE, &[], 0);
                }),
            ];
            cpus.run(work);
            let r = read
                .wait_for(std::time::Duration::from_secs(2))
                .ok_or("the read never completed")?;
            if r.status != Status::CANCELLED.raw() {
                return Err(format!("read: {:#x}", r.status));
            }
            file.close();
            driver.unload();
            kernel.check_clean()
        });
        assert!(report.failure.is_none(), "{:?}", report.failure);
        assert!(report.schedules > 10, "{} schedules", report.schedules);
    }
}

/// The simulator survives a bug check inside a lock's closure (issue item 7): the framework's
/// release runs during the unwind, and only the first report reaches the test.
mod bug_check_under_a_lock {
    use super::*;

    struct Crasher {
        state: SpinLock<u32>,
    }

    impl Driver for Crasher {
        const DISPATCH: Dispatch<Self> = Dispatch::new().create(ok).close(ok).device_control(Self::crash);

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            driver.create_device(&DEVICE)?;
            Ok(Crasher {
                state: SpinLock::new(0),
            })
        }
    }

    impl Crasher {
        fn crash<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let control = u32::from(irp.major_function()) == wdm::sys::IRP_MJ_DEVICE_CONTROL;
            self.state.with(cx, |_| {
                if control {
                    // SAFETY: a deliberate bug check (as a failing assertion in a driver would
                    // raise); KeBugCheckEx takes plain values and never returns.
                    unsafe { wdm::sys::ntddk::KeBugCheckEx(0xBEEF, 1, 2, 3, 4) }
                }
            });
            irp.complete(Status::SUCCESS, cx).into()
        }
    }

    #[test]
    fn a_bug_check_inside_with_is_reported_once() {
        let kernel = Kernel::new();
        let _driver = kernel.load("hostile", wdm::entry::<Crasher>).unwrap();
        let file = kernel.open(r"\\.\Hostile").unwrap();
        let bug = kernel.catch(|| file.ioctl(POKE, &[], 0)).unwrap_err();
        assert_eq!(bug.0.routine, "KeBugCheckEx", "{bug}");
        assert_eq!(bug.0.parameters, [1, 2, 3, 4], "{bug}");
        let reports = kernel.reports();
        assert_eq!(reports.len(), 1, "only the first report: {reports:?}");
        // The machine is stopped; dropping the file, driver and kernel must not abort.
    }
}

/// Device handles smuggled between drivers. On Windows each driver is its own image, so a
/// static cannot carry a `Device` from one to another; on the simulator every driver shares
/// the test's statics. The init-only operations check the device's owner.
mod foreign_device {
    use super::*;
    use std::sync::Mutex;
    use wdm::Device;

    static SMUGGLED: Mutex<Option<Device>> = Mutex::new(None);

    /// Hands its device to whoever loads next.
    struct Giver;

    impl Driver for Giver {
        const DISPATCH: Dispatch<Self> = Dispatch::new().create(ok).close(ok);

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            let device = driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Giver")))?;
            *SMUGGLED.lock().unwrap() = Some(device);
            Ok(Giver)
        }
    }

    /// Links (or attaches) the smuggled device as if it were its own.
    struct Taker<const ATTACH: bool>;

    impl<const ATTACH: bool> Driver for Taker<ATTACH> {
        const DISPATCH: Dispatch<Self> = Dispatch::new().create(ok).close(ok);

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            let own = driver.create_device(&DeviceOptions::new())?;
            let foreign = SMUGGLED.lock().unwrap().take().ok_or(Status::UNSUCCESSFUL)?;
            if ATTACH {
                foreign.attach_to(driver, &own)?;
            } else {
                foreign.create_symbolic_link(driver, utf16!("\\DosDevices\\Stolen"))?;
            }
            Ok(Taker)
        }
    }

    #[test]
    fn another_drivers_device_is_refused_by_init_only_operations() {
        for attach in [false, true] {
            let kernel = Kernel::new();
            let giver = kernel.load("giver", wdm::entry::<Giver>).unwrap();
            let taker = if attach {
                wdm::entry::<Taker<true>>
            } else {
                wdm::entry::<Taker<false>>
            };
            let refused = kernel.load("taker", taker).map(|_| ()).unwrap_err();
            assert_eq!(refused, Status::INVALID_PARAMETER.raw(), "attach: {attach}");
            assert!(kernel.open(r"\\.\Stolen").is_err(), "no link to the giver's device");
            giver.unload();
            kernel.assert_clean();
        }
    }
}
