//! The event sample on the simulator: waits complete on time, bad input is rejected with the
//! right status, cancellation and cleanup work, and a stress run with random cancellation over
//! four threads completes every request exactly once with nothing leaked or reported.

// Under Miri only: DbgPrintEx in Rust, since Miri cannot call the simulator's C one.

use std::time::{Duration, Instant};

use event::{Event, IOCTL_EVENT_WAIT, MAX_WAIT_MS};
use wdm::Status;
use wdm_sim::Kernel;
use wdm_sim::stress::Stress;

fn load(kernel: &Kernel) -> wdm_sim::Driver<'_> {
    kernel.load("event", wdm::entry::<Event>).expect("DriverEntry succeeds")
}

fn wait(ms: u32) -> [u8; 4] {
    ms.to_le_bytes()
}

#[test]
fn a_wait_completes_after_its_due_time() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(r"\\.\Event").unwrap();
    for ms in [0, 15, 60] {
        let began = Instant::now();
        let p = file.start_ioctl(IOCTL_EVENT_WAIT, &wait(ms), 0);
        assert_eq!(p.returned, Status::PENDING.raw(), "the request pends");
        let done = p.wait();
        assert_eq!(done.status, Status::SUCCESS.raw());
        assert!(began.elapsed() >= Duration::from_millis(ms.into()), "{ms} ms");
    }
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn shorter_waits_complete_first() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(r"\\.\Event").unwrap();
    let long = file.start_ioctl(IOCTL_EVENT_WAIT, &wait(300), 0);
    let short = file.start_ioctl(IOCTL_EVENT_WAIT, &wait(20), 0);
    assert_eq!(short.wait().status, Status::SUCCESS.raw());
    assert!(
        !long.is_done(),
        "the 300 ms wait is still pending when the 20 ms one completes"
    );
    assert_eq!(long.wait().status, Status::SUCCESS.raw());
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn bad_requests_fail_with_the_right_status() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(r"\\.\Event").unwrap();
    let invalid = Status::INVALID_PARAMETER.raw();
    assert_eq!(file.ioctl(IOCTL_EVENT_WAIT, &[], 0).status, invalid, "no input");
    assert_eq!(
        file.ioctl(IOCTL_EVENT_WAIT, &[1, 2, 3], 0).status,
        invalid,
        "short input"
    );
    assert_eq!(
        file.ioctl(IOCTL_EVENT_WAIT, &[1, 2, 3, 4, 5], 0).status,
        invalid,
        "long input"
    );
    assert_eq!(
        file.ioctl(IOCTL_EVENT_WAIT, &wait(MAX_WAIT_MS + 1), 0).status,
        invalid,
        "too long a wait"
    );
    assert_eq!(
        file.ioctl(IOCTL_EVENT_WAIT + 4, &wait(1), 0).status,
        Status::INVALID_DEVICE_REQUEST.raw(),
        "unknown control code"
    );
    assert_eq!(
        file.read(4).status,
        Status::INVALID_DEVICE_REQUEST.raw(),
        "no read handler"
    );
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn a_waiting_request_can_be_cancelled_and_the_timer_then_stops() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(r"\\.\Event").unwrap();
    let p = file.start_ioctl(IOCTL_EVENT_WAIT, &wait(MAX_WAIT_MS), 0);
    assert!(p.cancel(), "the queue's cancel routine runs");
    assert_eq!(p.wait().status, Status::CANCELLED.raw());
    assert!(
        kernel.wait_idle(Duration::from_secs(2)),
        "the next tick finds the queue empty and stops the timer"
    );
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn closing_a_handle_cancels_only_its_own_waits() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let a = kernel.open(r"\\.\Event").unwrap();
    let b = kernel.open(r"\\.\Event").unwrap();
    let pa = a.start_ioctl(IOCTL_EVENT_WAIT, &wait(MAX_WAIT_MS), 0);
    let pb = b.start_ioctl(IOCTL_EVENT_WAIT, &wait(50), 0);
    a.close();
    assert_eq!(pa.wait().status, Status::CANCELLED.raw(), "cleanup cancelled a's wait");
    assert_eq!(pb.wait().status, Status::SUCCESS.raw(), "b's wait ran its course");
    b.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn unloading_with_waits_outstanding_cancels_them_and_leaks_nothing() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(r"\\.\Event").unwrap();
    let waits: Vec<_> = (0..3)
        .map(|_| file.start_ioctl(IOCTL_EVENT_WAIT, &wait(MAX_WAIT_MS), 0))
        .collect();
    // The handle stays open (as if its process hung); unload still cleans up.
    std::mem::forget(file);
    driver.unload();
    for w in waits {
        assert_eq!(w.wait().status, Status::CANCELLED.raw());
    }
    assert!(kernel.reports().is_empty(), "{:?}", kernel.reports());
    assert!(kernel.pool().is_empty());
}

#[test]
fn stress_waits_with_random_cancellation_over_four_threads() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(r"\\.\Event").unwrap();
    let report = Stress::new(100_000).threads(4).window(256).cancel_percent(30).run(
        &kernel,
        |rng, _| file.start_ioctl(IOCTL_EVENT_WAIT, &wait(rng.below(3) as u32 * 5), 0),
        |result, cancelled| match result.status {
            s if s == Status::SUCCESS.raw() => Ok(()),
            s if s == Status::CANCELLED.raw() && cancelled => Ok(()),
            s => Err(format!("status {s:#x} (cancel attempted: {cancelled})")),
        },
    );
    println!("event stress: {report}");
    assert!(report.failures.is_empty(), "{report}");
    assert!(report.operations() >= 100_000);
    assert!(report.count(Status::CANCELLED.raw()) > 0, "some cancels won: {report}");
    assert!(report.count(Status::SUCCESS.raw()) > 0, "some timers won: {report}");
    file.close();
    driver.unload();
    kernel.assert_clean();
}

/// The scenario `cargo xtask samples` shows: a wait that completes, one that is cancelled.
#[test]
fn scenario_timeline() {
    let kernel = Kernel::new();
    kernel.trace();
    let driver = load(&kernel);
    let file = kernel.open(r"\\.\Event").unwrap();
    assert_eq!(file.ioctl(IOCTL_EVENT_WAIT, &wait(20), 0).status, Status::SUCCESS.raw());
    let p = file.start_ioctl(IOCTL_EVENT_WAIT, &wait(MAX_WAIT_MS), 0);
    assert!(p.cancel());
    assert_eq!(p.wait().status, Status::CANCELLED.raw());
    file.close();
    driver.unload();
    kernel.assert_clean();
    println!("{}", kernel.timeline());
}

/// Wine and Windows differ here: a timer re-armed from its own DPC is fine on Windows (and in
/// the simulator), and never returns under Wine 8, whose KeSetTimer waits for the timer's
/// running callbacks. The sample re-arms from a work item instead; this records both sides.
mod wine_difference {
    use std::time::Duration;

    use wdm::{
        DeviceOptions, Dispatch, DispatchLevel, Driver, DriverObject, Status, Timer, TimerCallback, Unlocked, utf16,
    };
    use wdm_sim::{Kernel, Rule};

    /// Ticks three times by re-arming itself inside its DPC, the way the sample first did.
    struct SelfRearming {
        timer: Timer,
        ticks: std::sync::atomic::AtomicU32,
    }

    struct Tick;

    impl TimerCallback<SelfRearming> for Tick {
        fn expired(driver: &SelfRearming, _level: &DispatchLevel, _cx: &mut Unlocked) {
            if driver.ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 2 {
                let _ = driver.timer.set(Duration::from_millis(1));
            }
        }
    }

    impl Driver for SelfRearming {
        const DISPATCH: Dispatch<Self> = Dispatch::new();

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Rearm")))?;
            let timer = Timer::new::<Self, Tick>(driver)?;
            timer.set(Duration::from_millis(1))?; // armed once init has returned
            Ok(SelfRearming {
                timer,
                ticks: std::sync::atomic::AtomicU32::new(0),
            })
        }
    }

    #[test]
    fn rearming_inside_the_dpc_is_fine_on_windows_and_reported_with_wine_checks() {
        let windows = Kernel::new();
        let driver = windows.load("rearm", wdm::entry::<SelfRearming>).unwrap();
        assert!(windows.wait_idle(Duration::from_secs(2)));
        driver.unload();
        windows.assert_clean();

        let wine = Kernel::new();
        wine.wine_checks();
        let driver = wine.load("rearm", wdm::entry::<SelfRearming>).unwrap();
        assert!(wine.wait_idle(Duration::from_secs(2)));
        driver.unload();
        assert!(wine.was_reported(Rule::WineTimerSelfWait));
    }

    #[test]
    fn the_event_sample_passes_the_wine_checks() {
        let kernel = Kernel::new();
        kernel.wine_checks();
        let driver = kernel.load("event", wdm::entry::<event::Event>).unwrap();
        let file = kernel.open(r"\\.\Event").unwrap();
        for ms in [0u32, 25, 50] {
            let r = file.ioctl(event::IOCTL_EVENT_WAIT, &ms.to_le_bytes(), 0);
            assert_eq!(r.status, Status::SUCCESS.raw());
        }
        file.close();
        driver.unload();
        kernel.assert_clean();
    }
}

/// Driver Verifier's low-resources simulation, systematically: every allocation DriverEntry
/// makes (pool, device objects, symbolic links) is failed in turn; each load must fail cleanly (an error status, nothing
/// leaked, no rule broken), never bug-check.
#[test]
fn every_allocation_failure_in_driver_entry_is_handled() {
    let points = wdm_sim::Kernel::low_resources_sweep("event", wdm::entry::<event::Event>).unwrap();
    println!("event: {points} allocation points in DriverEntry, each failed once");
    // the device, its link, the state, the registry, the timer, the queue, the work item (IoAllocateWorkItem and its block)
    assert_eq!(points, 8);
}
