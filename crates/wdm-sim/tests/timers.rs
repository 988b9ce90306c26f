//! DPCs, timers, events, waits and work items.

#![allow(
    clippy::multiple_unsafe_ops_per_block,
    clippy::missing_safety_doc,
    clippy::undocumented_unsafe_blocks
)]
// Each test is one scenario of raw calls on objects the test owns.

mod common;

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use common::*;
use wdm_sim::{Kernel, Rule};
use wdm_sys::ntddk::*;
use wdm_sys::*;

const MS: i64 = -10_000; // one millisecond, relative, in 100 ns units

fn due(ms: i64) -> LARGE_INTEGER {
    LARGE_INTEGER { QuadPart: ms * MS }
}

struct Probe {
    runs: AtomicU32,
    irql: AtomicUsize,
    cpu_thread: std::sync::Mutex<Option<std::thread::ThreadId>>,
}

unsafe extern "C-unwind" fn count(_dpc: PKDPC, ctx: PVOID, _a: PVOID, _b: PVOID) {
    let p = unsafe { &*ctx.cast::<Probe>() };
    p.runs.fetch_add(1, SeqCst);
    p.irql.store(usize::from(KeGetCurrentIrql()), SeqCst);
    *p.cpu_thread.lock().unwrap() = Some(std::thread::current().id());
}

fn probe() -> Box<Probe> {
    Box::new(Probe {
        runs: AtomicU32::new(0),
        irql: AtomicUsize::new(99),
        cpu_thread: std::sync::Mutex::new(None),
    })
}

#[test]
fn a_dpc_runs_once_at_dispatch_level_on_another_processor() {
    let kernel = Kernel::new();
    let p = probe();
    let mut dpc = Box::new(KDPC::default());
    let first = kernel.run(|| unsafe {
        KeInitializeDpc(&mut *dpc, Some(count), (&*p as *const Probe).cast_mut().cast());
        KeInsertQueueDpc(&mut *dpc, std::ptr::null_mut(), std::ptr::null_mut())
    });
    assert_eq!(first, 1);
    assert!(kernel.wait_idle(Duration::from_secs(2)));
    assert_eq!(p.runs.load(SeqCst), 1);
    assert_eq!(p.irql.load(SeqCst), DISPATCH_LEVEL as usize);
    assert_ne!(*p.cpu_thread.lock().unwrap(), Some(std::thread::current().id()));
    kernel.assert_clean();
}

#[test]
fn a_one_shot_timer_fires_its_dpc_and_a_cancelled_one_does_not() {
    let kernel = Kernel::new();
    let p = probe();
    let mut dpc = Box::new(KDPC::default());
    let mut timer = Box::new(KTIMER::default());
    kernel.run(|| unsafe {
        KeInitializeDpc(&mut *dpc, Some(count), (&*p as *const Probe).cast_mut().cast());
        KeInitializeTimer(&mut *timer);
        assert_eq!(KeSetTimer(&mut *timer, due(5), &mut *dpc), 0);
    });
    assert!(kernel.wait_idle(Duration::from_secs(2)));
    assert_eq!(p.runs.load(SeqCst), 1);
    assert_eq!(kernel.run(|| unsafe { KeReadStateTimer(&mut *timer) }), 1);

    let cancelled = kernel.run(|| unsafe {
        KeSetTimer(&mut *timer, due(500), &mut *dpc);
        KeCancelTimer(&mut *timer)
    });
    assert_eq!(cancelled, 1, "it was set");
    assert!(kernel.wait_idle(Duration::from_secs(2)));
    assert_eq!(p.runs.load(SeqCst), 1, "the cancelled timer never fired");
    kernel.assert_clean();
}

#[test]
fn a_periodic_timer_fires_until_cancelled() {
    let kernel = Kernel::new();
    let p = probe();
    let mut dpc = Box::new(KDPC::default());
    let mut timer = Box::new(KTIMER::default());
    kernel.run(|| unsafe {
        KeInitializeDpc(&mut *dpc, Some(count), (&*p as *const Probe).cast_mut().cast());
        KeInitializeTimerEx(&mut *timer, _TIMER_TYPE::NotificationTimer);
        KeSetTimerEx(&mut *timer, due(1), 2, &mut *dpc);
    });
    let start = std::time::Instant::now();
    while p.runs.load(SeqCst) < 3 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(p.runs.load(SeqCst) >= 3);
    assert_eq!(kernel.run(|| unsafe { KeCancelTimer(&mut *timer) }), 1);
    assert!(kernel.wait_idle(Duration::from_secs(2)));
    let after = p.runs.load(SeqCst);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(p.runs.load(SeqCst), after, "no more runs after cancel");
}

unsafe extern "C-unwind" fn signal(_dpc: PKDPC, ctx: PVOID, _a: PVOID, _b: PVOID) {
    unsafe { KeSetEvent(ctx.cast(), 0, 0) };
}

#[test]
fn waits_time_out_or_are_satisfied_and_synchronization_events_reset() {
    let kernel = Kernel::new();
    let mut event = Box::new(KEVENT::default());
    let mut dpc = Box::new(KDPC::default());
    let mut timer = Box::new(KTIMER::default());
    kernel.run(|| unsafe {
        let e: PRKEVENT = &mut *event;
        KeInitializeEvent(e, _EVENT_TYPE::SynchronizationEvent, 0);
        let mut poll = LARGE_INTEGER { QuadPart: 0 };
        assert_eq!(KeWaitForSingleObject(e.cast(), 0, 0, 0, &mut poll), STATUS_TIMEOUT);
        let mut short = due(5);
        assert_eq!(KeWaitForSingleObject(e.cast(), 0, 0, 0, &mut short), STATUS_TIMEOUT);
        // A timer's DPC signals it; the wait returns, and the event resets.
        KeInitializeDpc(&mut *dpc, Some(signal), e.cast());
        KeInitializeTimer(&mut *timer);
        KeSetTimer(&mut *timer, due(2), &mut *dpc);
        assert_eq!(
            KeWaitForSingleObject(e.cast(), 0, 0, 0, std::ptr::null_mut()),
            STATUS_SUCCESS
        );
        assert_eq!(
            KeReadStateEvent(e),
            0,
            "a synchronization event resets on a satisfied wait"
        );
        // A notification event stays signaled.
        KeInitializeEvent(e, _EVENT_TYPE::NotificationEvent, 0);
        assert_eq!(KeSetEvent(e, 0, 0), 0);
        assert_eq!(
            KeWaitForSingleObject(e.cast(), 0, 0, 0, std::ptr::null_mut()),
            STATUS_SUCCESS
        );
        assert_eq!(KeReadStateEvent(e), 1);
        assert_eq!(KeResetEvent(e), 1);
    });
    assert!(kernel.wait_idle(Duration::from_secs(2)));
    kernel.assert_clean();
}

#[test]
fn waiting_at_dispatch_level_is_0xc4_0x3b() {
    let kernel = Kernel::new();
    let mut event = Box::new(KEVENT::default());
    let bug = kernel
        .catch(|| {
            kernel.run(|| unsafe {
                KeInitializeEvent(&mut *event, _EVENT_TYPE::NotificationEvent, 0);
                let _old = KfRaiseIrql(DISPATCH_LEVEL as u8);
                let mut t = due(1);
                KeWaitForSingleObject((&mut *event as PRKEVENT).cast(), 0, 0, 0, &mut t)
            })
        })
        .unwrap_err();
    assert_eq!(bug.0.rule, Rule::WaitAtDispatch);
}

static WORK_RUNS: AtomicU32 = AtomicU32::new(0);

unsafe extern "C-unwind" fn work(device: PDEVICE_OBJECT, ctx: PVOID) {
    assert_eq!(KeGetCurrentIrql(), PASSIVE_LEVEL as u8);
    assert!(!device.is_null());
    assert_eq!(ctx as usize, 42);
    WORK_RUNS.fetch_add(1, SeqCst);
}

unsafe extern "C-unwind" fn unload(driver: PDRIVER_OBJECT) {
    unsafe { delete_devices(driver, &["Timers"]) };
}

static ARMED: std::sync::atomic::AtomicPtr<KTIMER> = std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

unsafe extern "C-unwind" fn entry(driver: PDRIVER_OBJECT, registry: PUNICODE_STRING) -> NTSTATUS {
    unsafe {
        let r = &*registry;
        let path = String::from_utf16_lossy(std::slice::from_raw_parts(r.Buffer, usize::from(r.Length) / 2));
        let device = create_device(driver, "Timers", 0, 0);
        let item = IoAllocateWorkItem(device);
        IoQueueWorkItem(item, Some(work), _WORK_QUEUE_TYPE::DelayedWorkQueue, 42 as PVOID);
        if path.contains("leave-timer") {
            let timer = Box::leak(Box::new(KTIMER::default()));
            KeInitializeTimer(timer);
            KeSetTimer(timer, due(60_000), std::ptr::null_mut());
            ARMED.store(timer, SeqCst);
        }
        // The work item is freed once it ran (the test waits for that before unloading).
        (*driver).DriverUnload = Some(unload);
        WORK_ITEM.store(item.cast(), SeqCst);
    }
    STATUS_SUCCESS
}

static WORK_ITEM: std::sync::atomic::AtomicPtr<u8> = std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

#[test]
fn work_items_run_at_passive_level_and_a_timer_left_set_at_unload_is_0xce() {
    let kernel = Kernel::new();
    let driver = kernel.load("timers", entry).unwrap();
    assert!(kernel.wait_idle(Duration::from_secs(2)));
    assert_eq!(WORK_RUNS.load(SeqCst), 1);
    kernel.run(|| unsafe { IoFreeWorkItem(WORK_ITEM.load(SeqCst).cast()) });
    driver.unload();
    kernel.assert_clean();

    let kernel = Kernel::new();
    let driver = kernel.load("timers-leave-timer", entry).unwrap();
    // The timer is set for a minute, so the machine is not idle; wait for the work item only.
    let start = std::time::Instant::now();
    while WORK_RUNS.load(SeqCst) < 2 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        !kernel.wait_idle(Duration::from_millis(10)),
        "a one-shot timer is still set"
    );
    kernel.run(|| unsafe { IoFreeWorkItem(WORK_ITEM.load(SeqCst).cast()) });
    let bug = kernel.catch(|| driver.unload()).unwrap_err();
    assert_eq!(bug.0.rule, Rule::PendingOperationsAtUnload);
    assert_eq!(bug.0.rule.stop_code().code, 0xCE);
}
