//! The hostile review of the PnP framework (src/pnp/): attacks written with safe driver code
//! only, run on the simulator. Each test asserts what the framework promises; each finding the
//! review made is closed, and its test is the regression test (docs/soundness.md, "PnP
//! devices").

use std::mem::ManuallyDrop;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use wdm::pnp::{NewDevice, PnpDevice, Role};
use wdm::{Dispatch, FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, Irp, Method, Outcome, Status, Unlocked, ctl_code};
use wdm_sim::{Kernel, NodeState};

fn ok<'irp, D>(_: &D, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    irp.complete(Status::SUCCESS, cx).into()
}

/// Waits (up to `limit`) until `flag` is set.
fn wait_for(flag: &AtomicBool, limit: Duration) -> bool {
    let start = Instant::now();
    while !flag.load(Ordering::SeqCst) {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Finding 1: the remove lock a request holds is the only thing keeping the device (and the
/// driver's state, which the handler borrows as `&self`) alive; completing the pended request
/// *inside* the handler releases it, so REMOVE on another processor drops the state and deletes
/// the device while the handler still runs with `&self` (and the framework's `request`/`handle`
/// still hold `&Extension<D>` function arguments).
mod state_freed_under_a_running_handler {
    use super::*;

    static ENTERED: AtomicBool = AtomicBool::new(false);
    static DROPPED: AtomicBool = AtomicBool::new(false);
    static DROPPED_WHILE_RUNNING: AtomicBool = AtomicBool::new(false);

    const FINISH_EARLY: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x810, Method::Buffered, FILE_ANY_ACCESS);

    pub struct Lingerer {
        calls: AtomicU32,
    }

    impl Drop for Lingerer {
        fn drop(&mut self) {
            DROPPED.store(true, Ordering::SeqCst);
        }
    }

    impl PnpDevice for Lingerer {
        const ROLE: Role = Role::Function;
        const DISPATCH: Dispatch<Self> = Dispatch::new()
            .create(ok)
            .close(ok)
            .cleanup(ok)
            .device_control(Self::control);

        fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
            Ok(Lingerer {
                calls: AtomicU32::new(0),
            })
        }
    }

    impl Lingerer {
        fn control<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            // Legal and common: pend, then finish the request before returning STATUS_PENDING.
            let (pending, pended) = irp.mark_pending();
            pending.complete(Status::SUCCESS, cx);
            ENTERED.store(true, Ordering::SeqCst);
            // Some more work in the handler, which still borrows `self`.
            let _ = wait_for(&DROPPED, Duration::from_secs(2));
            if DROPPED.load(Ordering::SeqCst) {
                // `self` dangles here: any use of it (safe code!) is a use after free. The test
                // only records the fact instead of touching it.
                DROPPED_WHILE_RUNNING.store(true, Ordering::SeqCst);
                if cfg!(miri) {
                    // Under Miri, touch it (what a handler doing more work would do): reported
                    // as a use after free.
                    self.calls.fetch_add(1, Ordering::SeqCst);
                }
            } else {
                self.calls.fetch_add(1, Ordering::SeqCst);
            }
            pended.into()
        }
    }

    #[test]
    fn the_state_is_not_dropped_while_its_handler_runs() {
        let kernel = Kernel::new();
        let driver = kernel.load("lingerer", wdm::pnp::entry::<Lingerer>).unwrap();
        let node = kernel.add_root_device(r"ROOT\LINGERER");
        assert_eq!(node.add_driver(&driver), 0);
        assert_eq!(node.start(), 0);
        let file = ManuallyDrop::new(kernel.open_device(&node).unwrap());
        let borrowed: &wdm_sim::File<'_> = &file;
        std::thread::scope(|s| {
            let request = kernel.spawn(s, move || borrowed.ioctl(FINISH_EARLY, &[], 0).status);
            assert!(wait_for(&ENTERED, Duration::from_secs(5)), "the handler ran");
            node.surprise_remove();
            // The last handle closes while the handler is still running (the request itself
            // has completed): REMOVE follows. (The requesting thread no longer reads the
            // `File`; it only waits for its completed request.)
            // SAFETY: (test harness) a bitwise copy of a `File` never dropped through the original.
            let owned = unsafe { std::ptr::read(&*file) };
            owned.close();
            assert_eq!(request.join().unwrap(), 0);
        });
        assert_eq!(node.state(), NodeState::Deleted);
        assert!(
            !DROPPED_WHILE_RUNNING.load(Ordering::SeqCst),
            "REMOVE dropped the device's state (and deleted the device) while a handler still \
             borrowed it: completing the pended request released the only remove-lock \
             acquisition covering the handler"
        );
        driver.unload();
        kernel.assert_clean();
    }
}

/// Finding 2: a METHOD_NEITHER request held while the device is stopped is re-dispatched by the
/// framework (here from the thread that restarts the device) as an `Irp`, whose `ioctl()`
/// claims to run in the requester's context, so `user_buffers()` copies to and from the
/// requester's user addresses in whatever process the drain runs in.
mod held_neither_request {
    use super::*;

    const NEITHER: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x820, Method::Neither, FILE_ANY_ACCESS);

    static SEEN: Mutex<Vec<(std::thread::ThreadId, Result<usize, i32>)>> = Mutex::new(Vec::new());

    pub struct Neither;

    impl PnpDevice for Neither {
        const ROLE: Role = Role::Function;
        const DISPATCH: Dispatch<Self> = Dispatch::new()
            .create(ok)
            .close(ok)
            .cleanup(ok)
            .device_control(Self::control);

        fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
            Ok(Neither)
        }
    }

    impl Neither {
        fn control<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let result = irp
                .ioctl()
                .ok_or(Status::INVALID_DEVICE_REQUEST)
                .and_then(|i| i.user_buffers())
                .and_then(|mut u| u.write_output(b"written", cx));
            SEEN.lock()
                .unwrap()
                .push((std::thread::current().id(), result.map_err(|s| s.raw())));
            match result {
                Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
                Err(status) => irp.complete(status, cx).into(),
            }
        }
    }

    #[test]
    fn a_held_neither_request_is_not_given_user_buffers_outside_its_callers_context() {
        let kernel = Kernel::new();
        let driver = kernel.load("neither", wdm::pnp::entry::<Neither>).unwrap();
        let node = kernel.add_root_device(r"ROOT\NEITHER");
        assert_eq!(node.add_driver(&driver), 0);
        assert_eq!(node.start(), 0);
        let file = kernel.open_device(&node).unwrap();
        assert_eq!(node.query_stop_and_stop(), Ok(0));
        // While stopped, a request whose buffers are the caller's user addresses is not held
        // (a held request is dispatched later from another thread): it fails at once.
        let held = file.start_ioctl(NEITHER, b"in", 16);
        let r = held.wait();
        assert_eq!(r.status, Status::DEVICE_NOT_READY.raw());
        assert_eq!(node.restart(), 0);
        assert!(SEEN.lock().unwrap().is_empty(), "the handler never saw it");
        // Started, it is handled in the caller's own context.
        let direct = file.ioctl(NEITHER, b"in", 16);
        assert_eq!((direct.status, direct.data()), (0, &b"written"[..]));
        assert_eq!(SEEN.lock().unwrap()[0].0, std::thread::current().id());
        file.close();
        assert_eq!(node.query_remove_and_remove(), Ok(0));
        driver.unload();
        kernel.assert_clean();
    }
}

/// Finding 3: a `PendingIrp` dropped at DISPATCH_LEVEL (under a `SpinLock`) is completed by the
/// device's DPC (src/dropped.rs), which releases the remove lock inside its loop and then goes
/// back to the device extension (its lock, its list) for the next entry. The release lets
/// REMOVE (on another processor) delete the device: the DPC's next `KeAcquireSpinLockRaiseToDpc`
/// touches freed memory, and a DPC re-queued by a second drop is left queued in freed memory
/// (0xC7 TIMER_OR_DPC_INVALID). The plain run cannot see a use after free (the simulator's pool is
/// the host's heap); run it under Miri (`cargo +nightly miri test --test pnp_review dropped_`).
mod dropped_under_a_lock {
    use super::*;
    use wdm::{PendingIrp, SpinLock};

    const DROP: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x830, Method::Buffered, FILE_ANY_ACCESS);

    pub struct Dropper {
        lock: SpinLock<Option<PendingIrp>>,
    }

    impl PnpDevice for Dropper {
        const ROLE: Role = Role::Function;
        const DISPATCH: Dispatch<Self> = Dispatch::new()
            .create(ok)
            .close(ok)
            .cleanup(ok)
            .device_control(Self::control);

        fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
            Ok(Dropper {
                lock: SpinLock::new(None),
            })
        }
    }

    impl Dropper {
        fn control<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let (pending, pended) = irp.mark_pending();
            // Dropped under the lock (at DISPATCH_LEVEL): deferred to the device's DPC.
            self.lock.with(cx, move |_| drop(pending));
            pended.into()
        }
    }

    #[test]
    fn dropped_requests_racing_remove_leave_no_dpc_in_a_deleted_device() {
        for _ in 0..if cfg!(miri) { 2 } else { 20 } {
            let kernel = Kernel::new();
            let driver = kernel.load("dropper", wdm::pnp::entry::<Dropper>).unwrap();
            let node = kernel.add_root_device(r"ROOT\DROPPER");
            assert_eq!(node.add_driver(&driver), 0);
            assert_eq!(node.start(), 0);
            let file = kernel.open_device(&node).unwrap();
            let a = file.start_ioctl(DROP, &[], 0);
            let b = file.start_ioctl(DROP, &[], 0);
            node.surprise_remove();
            // REMOVE (at the last close) waits for the DPC's releases, then deletes the device
            // while the DPC may still be in its loop.
            file.close();
            assert_eq!(a.wait().status, Status::CANCELLED.raw());
            assert_eq!(b.wait().status, Status::CANCELLED.raw());
            assert_eq!(node.state(), NodeState::Deleted);
            driver.unload();
            kernel.assert_clean();
        }
    }
}

/// Finding 5: spec §4 (StopPending: "in-flight I/O finishes" before STOP) and §6.6 (power-down:
/// "flushes or finishes I/O" before the device leaves D0): the framework holds *new* I/O, but
/// calls the `stop` hook (which releases the hardware) and `d0_exit` while a handler dispatched
/// earlier is still running on another processor, so that handler uses released hardware.
mod hooks_while_io_in_flight {
    use super::*;

    static IN_HANDLER: AtomicBool = AtomicBool::new(false);
    static LET_GO: AtomicBool = AtomicBool::new(false);
    static STOP_DURING_IO: AtomicBool = AtomicBool::new(false);
    static D0_EXIT_DURING_IO: AtomicBool = AtomicBool::new(false);

    const SLOW: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x840, Method::Buffered, FILE_ANY_ACCESS);

    pub struct Busy;

    impl PnpDevice for Busy {
        const ROLE: Role = Role::Function;
        const DISPATCH: Dispatch<Self> = Dispatch::new()
            .create(ok)
            .close(ok)
            .cleanup(ok)
            .device_control(Self::control);

        fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
            Ok(Busy)
        }

        fn stop(&self, _cx: &mut Unlocked) {
            if IN_HANDLER.load(Ordering::SeqCst) {
                STOP_DURING_IO.store(true, Ordering::SeqCst);
            }
        }

        fn d0_exit(&self, _target: wdm::pnp::DevicePowerState, _cx: &mut Unlocked) {
            if IN_HANDLER.load(Ordering::SeqCst) {
                D0_EXIT_DURING_IO.store(true, Ordering::SeqCst);
            }
        }
    }

    impl Busy {
        fn control<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            // A request that programs the hardware for a while.
            IN_HANDLER.store(true, Ordering::SeqCst);
            let _ = wait_for(&LET_GO, Duration::from_millis(300));
            IN_HANDLER.store(false, Ordering::SeqCst);
            irp.complete(Status::SUCCESS, cx).into()
        }
    }

    fn in_flight(kernel: &Kernel, file: &wdm_sim::File<'_>, during: impl FnOnce()) {
        LET_GO.store(false, Ordering::SeqCst);
        std::thread::scope(|s| {
            let request = kernel.spawn(s, || file.ioctl(SLOW, &[], 0).status);
            assert!(wait_for(&IN_HANDLER, Duration::from_secs(5)));
            during();
            LET_GO.store(true, Ordering::SeqCst);
            assert_eq!(request.join().unwrap(), 0);
        });
    }

    #[test]
    fn stop_and_d0_exit_wait_for_requests_in_flight() {
        let kernel = Kernel::new();
        let driver = kernel.load("busy", wdm::pnp::entry::<Busy>).unwrap();
        let node = kernel.add_root_device(r"ROOT\BUSY");
        assert_eq!(node.add_driver(&driver), 0);
        assert_eq!(node.start(), 0);
        let file = kernel.open_device(&node).unwrap();
        in_flight(&kernel, &file, || {
            let _ = kernel.sleep(wdm_sys::_SYSTEM_POWER_STATE::PowerSystemSleeping3);
        });
        kernel.wake().unwrap();
        in_flight(&kernel, &file, || {
            let _ = node.query_stop_and_stop();
        });
        assert_eq!(node.restart(), 0);
        let stop = STOP_DURING_IO.load(Ordering::SeqCst);
        let d0_exit = D0_EXIT_DURING_IO.load(Ordering::SeqCst);
        file.close();
        assert_eq!(node.query_remove_and_remove(), Ok(0));
        driver.unload();
        kernel.assert_clean();
        assert!(
            !stop && !d0_exit,
            "hooks ran while a request was still using the hardware: stop {stop}, d0_exit {d0_exit}"
        );
    }
}

/// Finding 1, completion-routine path (held up here): a `forward_with` completion routine that
/// reclaims and completes the IRP releases the filter's remove-lock acquisition inside the
/// routine, while the routine still has `&D`. With a framework driver below, the lower driver's
/// own acquisition (released after its IoCompleteRequest returns) keeps the lower REMOVE, and so
/// the filter's REMOVE (which forwards first), waiting until the routine returns: this passes. A
/// lower driver that completes without holding its own remove lock across IoCompleteRequest
/// (a PDO completing from a DPC after releasing) leaves the filter's state unprotected.
mod state_freed_under_a_completion_routine {
    use super::*;
    use wdm::{CompletionRoutine, LowerCompleted, LowerDevice, Next};

    static ENTERED: AtomicBool = AtomicBool::new(false);
    static DROPPED: AtomicBool = AtomicBool::new(false);
    static DROPPED_WHILE_RUNNING: AtomicBool = AtomicBool::new(false);

    pub struct Reclaimer {
        lower: LowerDevice<Reclaimer>,
    }

    impl Drop for Reclaimer {
        fn drop(&mut self) {
            DROPPED.store(true, Ordering::SeqCst);
        }
    }

    struct Finish;

    impl CompletionRoutine<Reclaimer> for Finish {
        fn completed<'c>(_state: &Reclaimer, irp: LowerCompleted<'c>, cx: &mut Unlocked) -> Next<'c> {
            let status = irp.status();
            let (irp, next) = irp.reclaim();
            irp.complete(status, cx);
            ENTERED.store(true, Ordering::SeqCst);
            let _ = wait_for(&DROPPED, Duration::from_secs(2));
            if DROPPED.load(Ordering::SeqCst) {
                // `_state` dangles here.
                DROPPED_WHILE_RUNNING.store(true, Ordering::SeqCst);
            }
            next
        }
    }

    impl PnpDevice for Reclaimer {
        const ROLE: Role = Role::Filter;
        const DISPATCH: Dispatch<Self> = Dispatch::new().write(Self::write);

        fn add_device(device: &NewDevice<'_, Self>) -> Result<Self, Status> {
            Ok(Reclaimer { lower: device.lower() })
        }
    }

    impl Reclaimer {
        fn write<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            irp.forward_with::<Reclaimer, Finish>(&self.lower, cx)
        }
    }

    #[test]
    fn the_filter_state_is_not_dropped_while_its_completion_routine_runs() {
        let kernel = Kernel::new();
        let toaster = kernel.load("toaster", wdm::pnp::entry::<toaster::Toaster>).unwrap();
        let filter = kernel.load("reclaimer", wdm::pnp::entry::<Reclaimer>).unwrap();
        let node = kernel.add_root_device(toaster::HARDWARE_ID);
        assert_eq!(node.add_driver(&toaster), 0);
        assert_eq!(node.add_driver(&filter), 0);
        assert_eq!(node.start(), 0);
        let file = ManuallyDrop::new(kernel.open_device(&node).unwrap());
        let borrowed: &wdm_sim::File<'_> = &file;
        std::thread::scope(|s| {
            let request = kernel.spawn(s, move || borrowed.write(b"x").status);
            assert!(wait_for(&ENTERED, Duration::from_secs(5)), "the routine ran");
            node.surprise_remove();
            // SAFETY: (test harness) as in `state_freed_under_a_running_handler`.
            let owned = unsafe { std::ptr::read(&*file) };
            owned.close();
            let _ = request.join().unwrap();
        });
        assert_eq!(node.state(), NodeState::Deleted);
        assert!(
            !DROPPED_WHILE_RUNNING.load(Ordering::SeqCst),
            "REMOVE dropped the filter's state while its completion routine still borrowed it"
        );
        filter.unload();
        toaster.unload();
        kernel.assert_clean();
    }
}

/// Finding 7 (simulator-only path): `Glue::unload` tears down a device still present (a test
/// unloading early) "as REMOVE would", but without REMOVE's wait: the state is dropped and the
/// device deleted while a request still holds the remove lock. Completing that request later
/// releases a lock in a freed extension (`release_for_completion` reads the freed header).
mod unload_with_a_device_left {
    use super::*;
    use wdm::PendingIrp;

    static STASH: Mutex<Option<PendingIrp>> = Mutex::new(None);
    const KEEP: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x850, Method::Buffered, FILE_ANY_ACCESS);

    pub struct Stasher;

    impl PnpDevice for Stasher {
        const ROLE: Role = Role::Function;
        const DISPATCH: Dispatch<Self> = Dispatch::new()
            .create(ok)
            .close(ok)
            .cleanup(ok)
            .device_control(Self::control);

        fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
            Ok(Stasher)
        }
    }

    impl Stasher {
        fn control<'irp>(&self, irp: Irp<'irp>, _cx: &mut Unlocked) -> Outcome<'irp> {
            let (pending, pended) = irp.mark_pending();
            *STASH.lock().unwrap() = Some(pending);
            pended.into()
        }
    }

    #[test]
    fn unload_with_a_request_holding_the_remove_lock() {
        // Windows never unloads a PnP driver with devices left; the simulator's harness can.
        // The framework tears down only devices no request holds: this one is left (and
        // reported as leaked) rather than freed under the request. (The harness then reclaims
        // the leaked device itself, so nothing of the driver may run afterwards: the request is
        // left as it is.)
        let kernel = Kernel::new();
        let driver = kernel.load("stasher", wdm::pnp::entry::<Stasher>).unwrap();
        let node = kernel.add_root_device(r"ROOT\STASHER");
        assert_eq!(node.add_driver(&driver), 0);
        assert_eq!(node.start(), 0);
        let file = kernel.open_device(&node).unwrap();
        let kept = file.start_ioctl(KEEP, &[], 0);
        driver.unload();
        assert!(
            kernel.was_reported(wdm_sim::Rule::DeviceLeak),
            "{:#?}",
            kernel.reports()
        );
        assert!(
            kernel
                .debug_output()
                .iter()
                .any(|l| l.text.contains("the device is left"))
        );
        assert!(!kept.is_done());
        std::mem::forget(STASH.lock().unwrap().take());
        std::mem::forget(kept);
        std::mem::forget(file);
        std::mem::forget(kernel);
    }
}

/// Finding 8: `PnpOptions::interface` on a filter registers the interface at AddDevice, but START
/// enables it only for function drivers (src/pnp/minor.rs `start`: `if !pnp.filter`), so a
/// filter's interface never appears (the docs promise "enabled once the device has started").
mod filter_interface {
    use super::*;
    use wdm::LowerDevice;
    use wdm::pnp::{Guid, PnpOptions};

    const CLASS: Guid = Guid::from_u128(0x5eed_0001_0000_4000_8000_0000_0000_0099);

    pub struct Tap {
        _lower: LowerDevice<Tap>,
    }

    impl PnpDevice for Tap {
        const ROLE: Role = Role::Filter;
        const OPTIONS: PnpOptions = PnpOptions::new().interface(CLASS);
        const DISPATCH: Dispatch<Self> = Dispatch::new();

        fn add_device(device: &NewDevice<'_, Self>) -> Result<Self, Status> {
            Ok(Tap { _lower: device.lower() })
        }
    }

    #[test]
    fn a_filters_interface_is_enabled_after_start() {
        let kernel = Kernel::new();
        let toaster = kernel.load("toaster", wdm::pnp::entry::<toaster::Toaster>).unwrap();
        let tap = kernel.load("tap", wdm::pnp::entry::<Tap>).unwrap();
        let node = kernel.add_root_device(toaster::HARDWARE_ID);
        assert_eq!(node.add_driver(&toaster), 0);
        assert_eq!(node.add_driver(&tap), 0);
        assert_eq!(node.start(), 0);
        let enabled = kernel.device_interfaces(&CLASS.to_raw()).len();
        assert_eq!(node.query_remove_and_remove(), Ok(0));
        tap.unload();
        toaster.unload();
        kernel.assert_clean();
        assert_eq!(enabled, 1, "the filter's device interface was never enabled");
    }
}

/// Held up: an `add_device` that panics. In the kernel a panic is a bug check (panic = "abort").
/// On the simulator it unwinds out of AddDevice into the test (not turned into a bug check): the
/// device is left attached with no state (`live` false, DO_DEVICE_INITIALIZING set), and unload's
/// teardown (which drops no state it never wrote) cleans it up.
mod add_device_panics {
    use super::*;

    pub struct Panicky;

    impl PnpDevice for Panicky {
        const ROLE: Role = Role::Function;
        const DISPATCH: Dispatch<Self> = Dispatch::new();

        fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
            panic!("AddDevice hook panicked");
        }
    }

    #[test]
    fn a_panicking_add_device_leaves_a_device_that_unload_cleans_up() {
        let kernel = Kernel::new();
        let driver = kernel.load("panicky", wdm::pnp::entry::<Panicky>).unwrap();
        let node = kernel.add_root_device(r"ROOT\PANICKY");
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| node.add_driver(&driver)));
        assert!(unwound.is_err());
        // The unwind left the device created and attached, still initializing, with no state.
        let left = node.stack().len();
        driver.unload();
        assert!(node.stack().is_empty());
        kernel.assert_clean();
        assert_eq!(left, 1, "the half-made device stays attached until unload");
    }
}
