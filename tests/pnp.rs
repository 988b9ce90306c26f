//! The framework's PnP state machine on the simulator, attacked with safe code: the remove lock
//! held by every request (REMOVE waits for one kept in the driver's state, for a guard handed
//! to another thread, for a request forwarded with a completion routine), requests in every
//! state, a failing AddDevice, a filter passing through what it does not handle, and explored
//! races of I/O against surprise removal and REMOVE.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wdm::pnp::{NewDevice, PnpDevice, RemoveLockGuard, Role};
use wdm::{
    CompletionRoutine, Dispatch, FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, Irp, LowerCompleted, LowerDevice, Method, Next,
    Outcome, PendingIrp, Status, Unlocked, ctl_code,
};
use wdm_sim::explore::{Explorer, Work};
use wdm_sim::{Kernel, NodeState};

/// Pends the request and stashes it.
const KEEP: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x800, Method::Buffered, FILE_ANY_ACCESS);
/// Pends the request and keeps it for ever.
const KEEP_FOREVER: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x801, Method::Buffered, FILE_ANY_ACCESS);
/// Pends the request and drops it at DISPATCH_LEVEL (the device's DPC completes it).
const DROP_AT_DISPATCH: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x803, Method::Buffered, FILE_ANY_ACCESS);
/// Takes a remove-lock guard and stashes it.
const GUARD: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x802, Method::Buffered, FILE_ANY_ACCESS);

fn ok<'irp, D>(_: &D, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    irp.complete(Status::SUCCESS, cx).into()
}

/// A function driver whose `remove` hook does not complete what it stashed: REMOVE must wait for
/// it (the remove lock it holds).
struct Keeper;

/// Where the driver stashes what it keeps (the attack: a pended request and a remove-lock
/// guard moved out of the device's state into statics, to be dropped by another thread).
static STASHED_IRP: Mutex<Option<PendingIrp>> = Mutex::new(None);
static STASHED_GUARD: Mutex<Option<RemoveLockGuard>> = Mutex::new(None);
static KEPT_FOREVER: Mutex<Vec<PendingIrp>> = Mutex::new(Vec::new());

impl PnpDevice for Keeper {
    const ROLE: Role = Role::Function;
    const DISPATCH: Dispatch<Self> = Dispatch::new()
        .create(ok)
        .close(ok)
        .cleanup(ok)
        .device_control(Self::control);

    fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
        Ok(Keeper)
    }
}

impl Keeper {
    fn control<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        match irp.ioctl().map(|i| i.code()) {
            Some(KEEP) => {
                let (pending, pended) = irp.mark_pending();
                *STASHED_IRP.lock().unwrap() = Some(pending);
                pended.into()
            }
            Some(KEEP_FOREVER) => {
                let (pending, pended) = irp.mark_pending();
                KEPT_FOREVER.lock().unwrap().push(pending);
                pended.into()
            }
            Some(DROP_AT_DISPATCH) => {
                let (pending, pended) = irp.mark_pending();
                wdm::at_dispatch(|_| drop(pending));
                pended.into()
            }
            Some(GUARD) => match irp.acquire_remove_lock(u32::from_le_bytes(*b"test")) {
                Ok(guard) => {
                    *STASHED_GUARD.lock().unwrap() = Some(guard);
                    irp.complete(Status::SUCCESS, cx).into()
                }
                Err(status) => irp.complete(status, cx).into(),
            },
            _ => irp.complete(Status::INVALID_DEVICE_REQUEST, cx).into(),
        }
    }
}

fn keeper(kernel: &Kernel) -> (wdm_sim::Driver<'_>, wdm_sim::DeviceNode<'_>) {
    let driver = kernel.load("keeper", wdm::pnp::entry::<Keeper>).unwrap();
    let node = kernel.add_root_device(r"ROOT\KEEPER");
    assert_eq!(node.add_driver(&driver), 0);
    assert_eq!(node.start(), 0);
    (driver, node)
}

/// Closes the last handle (which sends REMOVE after a surprise removal) on another thread,
/// checks REMOVE is still waiting after a while, runs `unblock`, and checks it then finishes.
fn close_waits_for(kernel: &Kernel, file: wdm_sim::File<'_>, unblock: impl FnOnce()) {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let done = &done;
        let closer = kernel.spawn(s, move || {
            file.close();
            done.store(true, Ordering::SeqCst);
        });
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !done.load(Ordering::SeqCst),
            "REMOVE finished while the remove lock was held"
        );
        unblock();
        closer.join().unwrap();
    });
    assert!(done.load(Ordering::SeqCst));
}

#[test]
fn remove_waits_for_a_pended_request_stashed_in_a_static() {
    let kernel = Kernel::new();
    let (driver, node) = keeper(&kernel);
    let file = kernel.open_device(&node).unwrap();
    let kept = file.start_ioctl(KEEP, &[], 0);
    node.surprise_remove();
    assert_eq!(node.state(), NodeState::SurpriseRemoved);
    // Dropping the stashed request (from a thread of this kernel) completes it as cancelled,
    // which releases the lock it holds: only then does REMOVE go on.
    close_waits_for(&kernel, file, || {
        kernel.run(|| drop(STASHED_IRP.lock().unwrap().take()))
    });
    assert_eq!(kept.wait().status, Status::CANCELLED.raw());
    assert_eq!(node.state(), NodeState::Deleted);
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn remove_waits_for_a_guard_sent_to_another_thread() {
    let kernel = Kernel::new();
    let (driver, node) = keeper(&kernel);
    let file = kernel.open_device(&node).unwrap();
    assert_eq!(file.ioctl(GUARD, &[], 0).status, 0);
    let guard = STASHED_GUARD.lock().unwrap().take().expect("stashed");
    node.surprise_remove();
    // The guard crosses to another thread of the kernel, which drops it late.
    let k = &kernel;
    close_waits_for(&kernel, file, move || k.run(move || drop(guard)));
    assert_eq!(node.state(), NodeState::Deleted);
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn requests_in_each_state_get_the_documented_status() {
    let kernel = Kernel::new();
    let (driver, node) = keeper(&kernel);
    let file = kernel.open_device(&node).unwrap();
    // No read handler: a function driver fails it.
    assert_eq!(file.read(1).status, Status::INVALID_DEVICE_REQUEST.raw());
    node.surprise_remove();
    // Surprise removed: everything but cleanup and close fails, without reaching the driver.
    assert_eq!(file.ioctl(GUARD, &[], 0).status, Status::NO_SUCH_DEVICE.raw());
    file.close();
    assert_eq!(node.state(), NodeState::Deleted);
    driver.unload();
    kernel.assert_clean();
}

/// A device whose AddDevice hook fails.
struct Refuser;

impl PnpDevice for Refuser {
    const ROLE: Role = Role::Function;
    const OPTIONS: wdm::pnp::PnpOptions =
        wdm::pnp::PnpOptions::new().interface(wdm::pnp::Guid::from_u128(0x1234_5678_0000_4000_8000_0000_0000_0042));
    const DISPATCH: Dispatch<Self> = Dispatch::new().create(ok);

    fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
        Err(Status::INSUFFICIENT_RESOURCES)
    }
}

#[test]
fn a_failing_add_device_is_undone() {
    let kernel = Kernel::new();
    let driver = kernel.load("refuser", wdm::pnp::entry::<Refuser>).unwrap();
    let node = kernel.add_root_device(r"ROOT\REFUSER");
    assert_eq!(node.add_driver(&driver), Status::INSUFFICIENT_RESOURCES.raw());
    // Detached, deleted, the interface name freed, the work item and queue freed.
    assert!(node.stack().is_empty());
    assert!(driver.device_names().is_empty());
    driver.unload();
    kernel.assert_clean();
}

/// A filter that forwards reads with a completion routine, which passes half of them up and
/// reclaims and completes the other half: either way the remove lock the dispatch took is
/// released (REMOVE would otherwise wait forever).
struct Watcher {
    lower: LowerDevice<Watcher>,
}

struct Watched;

impl CompletionRoutine<Watcher> for Watched {
    fn completed<'c>(_: &Watcher, irp: LowerCompleted<'c>, cx: &mut Unlocked) -> Next<'c> {
        if irp.information().is_multiple_of(2) {
            irp.pass_up()
        } else {
            let status = irp.status();
            let (irp, next) = irp.reclaim();
            irp.complete(status, cx);
            next
        }
    }
}

impl PnpDevice for Watcher {
    const ROLE: Role = Role::Filter;
    const DISPATCH: Dispatch<Self> = Dispatch::new().write(Self::write);

    fn add_device(device: &NewDevice<'_, Self>) -> Result<Self, Status> {
        Ok(Watcher { lower: device.lower() })
    }
}

impl Watcher {
    fn write<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.forward_with::<Watcher, Watched>(&self.lower, cx)
    }
}

#[test]
fn forwarding_with_a_completion_routine_releases_the_lock_either_way() {
    let kernel = Kernel::new();
    let toaster = kernel.load("toaster", wdm::pnp::entry::<toaster::Toaster>).unwrap();
    let watcher = kernel.load("watcher", wdm::pnp::entry::<Watcher>).unwrap();
    let node = kernel.add_root_device(toaster::HARDWARE_ID);
    assert_eq!(node.add_driver(&toaster), 0);
    assert_eq!(node.add_driver(&watcher), 0);
    assert_eq!(node.start(), 0);
    let file = kernel.open_device(&node).unwrap();
    for n in 1..=6 {
        assert_eq!(file.write(&vec![7; n]).status, 0, "write of {n}");
    }
    // Reads are not handled by the filter: passed down untouched to the toaster.
    assert_eq!(file.read(8).data(), &[7; 6][..]);
    file.close();
    assert_eq!(
        node.query_remove_and_remove(),
        Ok(0),
        "REMOVE does not hang: every lock released"
    );
    watcher.unload();
    toaster.unload();
    kernel.assert_clean();
}

#[test]
fn io_and_the_last_close_racing_surprise_removal_explored() {
    // CPU0 writes and reads; CPU1 surprise-removes the device. Every interleaving up to two
    // pre-emptions: each request completes once, with success or the surprise-removal status,
    // REMOVE follows the close, nothing leaks, nothing is reported.
    let report = Explorer::exhaustive(2).max_schedules(400).run(|kernel, cpus| {
        let driver = kernel
            .load("toaster", wdm::pnp::entry::<toaster::Toaster>)
            .map_err(|s| format!("{s:#x}"))?;
        let node = kernel.add_root_device(toaster::HARDWARE_ID);
        if node.add_driver(&driver) != 0 || node.start() != 0 {
            return Err("start".into());
        }
        let file = kernel.open_device(&node).map_err(|s| format!("{s:#x}"))?;
        let results = Mutex::new(Vec::new());
        let results_ref = &results;
        // CPU0's close races CPU1's surprise removal: REMOVE comes from whichever is last, the
        // close (the usual case) or the removal itself (if the handle was already closed).
        let work: Vec<Work<'_>> = vec![
            Box::new(move || {
                let results = results_ref;
                let w = file.write(b"race").status;
                let r = file.read(4).status;
                results.lock().unwrap().extend([w, r]);
                file.close();
            }),
            Box::new(|| {
                node.surprise_remove();
            }),
        ];
        cpus.run(work);
        for status in results.into_inner().unwrap() {
            if status != 0 && status != Status::NO_SUCH_DEVICE.raw() {
                return Err(format!("a request ended {status:#x}"));
            }
        }
        if node.state() != NodeState::Deleted {
            return Err(format!("{:?} after the last close", node.state()));
        }
        driver.unload();
        kernel.check_clean()
    });
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert!(report.schedules > 10, "{} schedules", report.schedules);
}

#[test]
fn a_request_kept_for_ever_makes_remove_report_the_hang() {
    // The driver keeps a request past REMOVE (its hook completes nothing): Windows would hang in
    // REMOVE for ever; the simulator stops with the rule and the tag still held.
    let kernel = Kernel::new();
    kernel.remove_lock_wait_limit(Duration::from_millis(200));
    let (_driver, node) = keeper(&kernel);
    let file = kernel.open_device(&node).unwrap();
    let kept = file.start_ioctl(KEEP_FOREVER, &[], 0);
    node.surprise_remove();
    let hang = kernel.catch(|| file.close()).expect_err("REMOVE cannot finish");
    assert_eq!(hang.0.rule, wdm_sim::Rule::RemoveLockWaitHang);
    assert!(
        hang.0.message.contains(&format!("{:#x}", kept.irp() as usize)),
        "{}",
        hang.0.message
    );
    // The scenario ended like a bug check: the machine is not reused.
    std::mem::forget(kept);
    std::mem::forget(kernel);
}

#[test]
fn a_request_dropped_at_dispatch_level_is_completed_by_the_dpc_and_releases_the_lock() {
    let kernel = Kernel::new();
    let (driver, node) = keeper(&kernel);
    let file = kernel.open_device(&node).unwrap();
    for _ in 0..20 {
        assert_eq!(file.ioctl(DROP_AT_DISPATCH, &[], 0).status, Status::CANCELLED.raw());
    }
    let last = file.start_ioctl(DROP_AT_DISPATCH, &[], 0);
    node.surprise_remove();
    file.close(); // REMOVE: waits for the DPC's completion, flushes the DPC, deletes
    assert_eq!(last.wait().status, Status::CANCELLED.raw());
    assert_eq!(node.state(), NodeState::Deleted);
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_filter_takes_the_flags_type_and_characteristics_of_the_device_below() {
    let kernel = Kernel::new();
    let toaster = kernel.load("toaster", wdm::pnp::entry::<toaster::Toaster>).unwrap();
    let watcher = kernel.load("watcher", wdm::pnp::entry::<Watcher>).unwrap();
    let node = kernel.add_root_device(toaster::HARDWARE_ID);
    assert_eq!(node.add_driver(&toaster), 0);
    assert_eq!(node.add_driver(&watcher), 0);
    let (pdo, fdo, filter) = (node.pdo(), node.stack()[0], node.stack()[1]);
    let read = |d: *mut wdm_sys::DEVICE_OBJECT| {
        // SAFETY: a live device of the stack; plain fields read.
        let flags = unsafe { (*d).Flags };
        // SAFETY: as above.
        let kind = unsafe { (*d).DeviceType };
        // SAFETY: as above.
        let characteristics = unsafe { (*d).Characteristics };
        // SAFETY: as above.
        let stack = unsafe { (*d).StackSize };
        (flags, kind, characteristics, stack)
    };
    let (pdo_flags, _, _, pdo_stack) = read(pdo);
    let (fdo_flags, fdo_type, fdo_chars, fdo_stack) = read(fdo);
    let (filter_flags, filter_type, filter_chars, filter_stack) = read(filter);
    let io = wdm_sys::DO_BUFFERED_IO | wdm_sys::DO_DIRECT_IO;
    assert_eq!(fdo_flags & io, wdm_sys::DO_BUFFERED_IO, "the toaster's own choice");
    assert_eq!(
        filter_flags & io,
        fdo_flags & io,
        "the filter copies the buffering method"
    );
    assert_eq!(
        filter_flags & wdm_sys::DO_POWER_PAGABLE,
        fdo_flags & wdm_sys::DO_POWER_PAGABLE,
        "and DO_POWER_PAGABLE"
    );
    assert_eq!(
        fdo_flags & wdm_sys::DO_POWER_PAGABLE,
        pdo_flags & wdm_sys::DO_POWER_PAGABLE
    );
    assert_eq!(filter_type, fdo_type);
    assert_eq!(filter_chars & fdo_chars, fdo_chars);
    assert_eq!((fdo_stack, filter_stack), (pdo_stack + 1, pdo_stack + 2));
    assert_eq!(filter_flags & wdm_sys::DO_DEVICE_INITIALIZING, 0);
    node.surprise_remove();
    watcher.unload();
    toaster.unload();
    kernel.assert_clean();
}

#[test]
fn a_wait_racing_surprise_removal_is_never_stranded_explored() {
    // CPU0 sends a wait the toaster queues; CPU1 surprise-removes. In every interleaving the wait
    // completes (as removed): the framework runs the surprise-removal hook only after every
    // handler that saw the device started has returned, so the hook's flush finds the wait.
    let report = Explorer::exhaustive(3).max_schedules(2000).run(|kernel, cpus| {
        let driver = kernel
            .load("toaster", wdm::pnp::entry::<toaster::Toaster>)
            .map_err(|s| format!("{s:#x}"))?;
        let node = kernel.add_root_device(toaster::HARDWARE_ID);
        if node.add_driver(&driver) != 0 || node.start() != 0 {
            return Err("start".into());
        }
        let file = kernel.open_device(&node).map_err(|s| format!("{s:#x}"))?;
        let wait = Mutex::new(None);
        let work: Vec<Work<'_>> = vec![
            Box::new(|| {
                *wait.lock().unwrap() = Some(file.start_ioctl(toaster::IOCTL_TOASTER_WAIT, &[], 0));
            }),
            Box::new(|| {
                node.surprise_remove();
            }),
        ];
        cpus.run(work);
        let wait = wait.into_inner().unwrap().ok_or("no wait")?;
        let done = wait.wait_for(Duration::from_secs(2)).ok_or("the wait was stranded")?;
        if done.status != Status::NO_SUCH_DEVICE.raw() {
            return Err(format!("the wait ended {:#x}", done.status));
        }
        file.close();
        driver.unload();
        kernel.check_clean()
    });
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert!(report.schedules > 10, "{} schedules", report.schedules);
}

#[test]
fn wmi_irps_pass_through_a_pnp_stack_untouched() {
    // The framework forwards IRP_MJ_SYSTEM_CONTROL (SDV WmiForward): an IRP for a provider
    // that is not on the stack reaches the PDO with IoStatus unchanged and is completed there.
    let kernel = Kernel::new();
    let toaster = kernel.load("toaster", wdm::pnp::entry::<toaster::Toaster>).unwrap();
    let watcher = kernel.load("watcher", wdm::pnp::entry::<Watcher>).unwrap();
    let node = kernel.add_root_device(toaster::HARDWARE_ID);
    assert_eq!(node.add_driver(&toaster), 0);
    assert_eq!(node.add_driver(&watcher), 0);
    assert_eq!(node.start(), 0);
    let other = node.pdo(); // some other provider
    let done = node.system_control(wdm_sys::IRP_MN_QUERY_ALL_DATA as u8, other);
    assert_eq!(
        done.status,
        Status::NOT_SUPPORTED.raw(),
        "left as the WMI sender set it"
    );
    node.surprise_remove();
    watcher.unload();
    toaster.unload();
    kernel.assert_clean();
}
