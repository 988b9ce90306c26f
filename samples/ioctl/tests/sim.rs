//! The ioctl sample on the simulator: every buffering method round-trips, every bad input gets
//! its status (including forged METHOD_NEITHER addresses), and a stress run over four threads
//! mixing all four methods and bad inputs, with random cancellation, completes every request
//! exactly once.

// Under Miri only: DbgPrintEx in Rust, since Miri cannot call the simulator's C one.

use ioctl::{
    DATA, IOCTL_SIOCTL_METHOD_BUFFERED, IOCTL_SIOCTL_METHOD_IN_DIRECT, IOCTL_SIOCTL_METHOD_NEITHER,
    IOCTL_SIOCTL_METHOD_OUT_DIRECT, Ioctl, MAX_INPUT,
};
use wdm::Status;
use wdm_sim::stress::Stress;
use wdm_sim::{Buffers, Kernel};
use wdm_sys::IRP_MJ_DEVICE_CONTROL;

const NAME: &str = r"\\.\IoctlTest";
const ALL: [u32; 4] = [
    IOCTL_SIOCTL_METHOD_BUFFERED,
    IOCTL_SIOCTL_METHOD_IN_DIRECT,
    IOCTL_SIOCTL_METHOD_OUT_DIRECT,
    IOCTL_SIOCTL_METHOD_NEITHER,
];

fn load(kernel: &Kernel) -> wdm_sim::Driver<'_> {
    kernel.load("ioctl", wdm::entry::<Ioctl>).expect("DriverEntry succeeds")
}

fn debug_text(kernel: &Kernel) -> String {
    kernel.debug_output().into_iter().map(|l| l.text).collect()
}

#[test]
fn the_codes_are_sioctls() {
    assert_eq!(IOCTL_SIOCTL_METHOD_IN_DIRECT, 0x9C40_2401);
    assert_eq!(IOCTL_SIOCTL_METHOD_OUT_DIRECT, 0x9C40_2406);
    assert_eq!(IOCTL_SIOCTL_METHOD_BUFFERED, 0x9C40_2408);
    assert_eq!(IOCTL_SIOCTL_METHOD_NEITHER, 0x9C40_240F);
}

#[test]
fn every_method_reads_the_input_and_answers() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    for (code, name) in [
        (IOCTL_SIOCTL_METHOD_BUFFERED, "buffered"),
        (IOCTL_SIOCTL_METHOD_OUT_DIRECT, "out-direct"),
        (IOCTL_SIOCTL_METHOD_NEITHER, "neither"),
    ] {
        let input = format!("from the application, {name}\0");
        let r = file.ioctl(code, input.as_bytes(), 100);
        assert_eq!(r.status, Status::SUCCESS.raw(), "{name}");
        assert_eq!(r.data(), DATA, "{name}");
        assert!(debug_text(&kernel).contains(&format!("ioctl: {name}: from the application, {name}\n")));
    }
    // In-direct: the second buffer goes to the driver, which reads it.
    let r = file.call(
        IRP_MJ_DEVICE_CONTROL,
        IOCTL_SIOCTL_METHOD_IN_DIRECT,
        Buffers {
            input: b"first\0".to_vec(),
            output: b"second buffer\0".to_vec(),
        },
    );
    assert_eq!((r.status, r.information), (Status::SUCCESS.raw(), 14));
    assert!(debug_text(&kernel).contains("ioctl: in-direct: first / second buffer\n"));
    file.close();
    driver.unload();
    kernel.assert_clean();
}

/// METHOD_IN_DIRECT as the C sample treats it: the second buffer is the caller's input, read in
/// place (the driver gets it as `&[u8]`), reported by length, and handed back untouched.
#[test]
fn in_direct_reads_the_second_buffer_in_place_and_leaves_it_as_passed() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    for second in [&b"x\0"[..], b"a longer second buffer\0", &[b'z'; 200]] {
        let r = file.call(
            IRP_MJ_DEVICE_CONTROL,
            IOCTL_SIOCTL_METHOD_IN_DIRECT,
            Buffers {
                input: b"in\0".to_vec(),
                output: second.to_vec(),
            },
        );
        assert_eq!((r.status, r.information), (Status::SUCCESS.raw(), second.len()));
        assert_eq!(r.output, second, "the caller's second buffer is not written");
    }
    assert!(debug_text(&kernel).contains("ioctl: in-direct: in / a longer second buffer\n"));
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn bad_lengths_get_the_right_status_for_every_method() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    let invalid = Status::INVALID_PARAMETER.raw();
    for code in ALL {
        assert_eq!(file.ioctl(code, &[], 100).status, invalid, "{code:#x}: no input");
        assert_eq!(file.ioctl(code, b"x", 0).status, invalid, "{code:#x}: no output");
        assert_eq!(
            file.ioctl(code, &[b'x'; MAX_INPUT + 1], 100).status,
            invalid,
            "{code:#x}: input too long"
        );
        let short = file.ioctl(code, b"x", DATA.len() - 1);
        let expected = if code == IOCTL_SIOCTL_METHOD_IN_DIRECT {
            Status::SUCCESS.raw()
        } else {
            Status::BUFFER_TOO_SMALL.raw()
        };
        assert_eq!(short.status, expected, "{code:#x}: output one byte short");
        assert_eq!(
            file.ioctl(code, &[b'x'; MAX_INPUT], DATA.len()).status,
            Status::SUCCESS.raw()
        );
    }
    assert_eq!(
        file.ioctl(IOCTL_SIOCTL_METHOD_BUFFERED + 0x10, b"x", 100).status,
        Status::INVALID_DEVICE_REQUEST.raw(),
        "unknown code"
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
fn forged_neither_addresses_get_a_status_not_a_bug_check() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    let mut out = vec![0u8; 64];
    let good_out = (out.as_mut_ptr() as usize, out.len());
    let cases = [
        (
            "kernel-space input",
            (0xFFFF_8000_0000_1000, 8),
            (0x1000, 64),
            Status::INVALID_USER_BUFFER,
        ),
        (
            "input crossing the user limit",
            (0x7FFF_FFFE_FFF0, 0x20),
            (0x1000, 64),
            Status::INVALID_USER_BUFFER,
        ),
        ("NULL input", (0, 8), (0x1000, 64), Status::INVALID_USER_BUFFER),
        ("unmapped input", (0x1000, 8), (0x2000, 64), Status::ACCESS_VIOLATION),
        ("unmapped output", (0x1000, 8), good_out, Status::ACCESS_VIOLATION),
    ];
    for (what, input, output, status) in cases {
        let r = file.start_ioctl_at(IOCTL_SIOCTL_METHOD_NEITHER, input, output).wait();
        assert_eq!(r.status, status.raw(), "{what}");
    }
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn neither_is_answered_in_the_callers_context() {
    // The safe API hands METHOD_NEITHER buffers out only in the dispatch routine (the framework's
    // rule, tested in tests/requests.rs); the sample answers there and never pends.
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    let p = file.start_ioctl(IOCTL_SIOCTL_METHOD_NEITHER, b"x\0", 64);
    assert_ne!(p.returned, Status::PENDING.raw(), "answered in the caller's context");
    assert_eq!(p.wait().data(), DATA);
    file.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn stress_all_methods_and_bad_inputs_over_four_threads() {
    let kernel = Kernel::new();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    let report = Stress::new(100_000).threads(4).window(8).cancel_percent(30).run(
        &kernel,
        |rng, _| {
            let code = ALL[rng.below(4) as usize];
            let input_len = rng.below(MAX_INPUT as u64 + 2) as usize;
            let output_len = rng.below(DATA.len() as u64 * 2) as usize;
            file.start_ioctl(code, &vec![b'a'; input_len], output_len)
        },
        |result, _cancelled| {
            let ok = result.status == Status::SUCCESS.raw();
            let expected_bad = [Status::INVALID_PARAMETER.raw(), Status::BUFFER_TOO_SMALL.raw()];
            if (ok && (result.data() == DATA || result.information <= result.output.len()))
                || expected_bad.contains(&result.status)
            {
                Ok(())
            } else {
                Err(format!("status {:#x}, {} bytes", result.status, result.information))
            }
        },
    );
    println!("ioctl stress: {report}");
    assert!(report.failures.is_empty(), "{report}");
    assert!(report.operations() >= 100_000);
    file.close();
    driver.unload();
    kernel.assert_clean();
}

/// The scenario `cargo xtask samples` shows: one IOCTL per method, and a rejected one.
#[test]
fn scenario_timeline() {
    let kernel = Kernel::new();
    kernel.trace();
    let driver = load(&kernel);
    let file = kernel.open(NAME).unwrap();
    for code in ALL {
        assert_eq!(file.ioctl(code, b"hello\0", 64).status, Status::SUCCESS.raw());
    }
    assert_eq!(
        file.ioctl(IOCTL_SIOCTL_METHOD_BUFFERED, &[], 64).status,
        Status::INVALID_PARAMETER.raw()
    );
    file.close();
    driver.unload();
    kernel.assert_clean();
    println!("{}", kernel.timeline());
    print!("{}", debug_text(&kernel));
}

/// Driver Verifier's low-resources simulation, systematically: every allocation DriverEntry
/// makes (pool, device objects, symbolic links) is failed in turn; each load must fail cleanly (an error status, nothing
/// leaked, no rule broken), never bug-check.
#[test]
fn every_allocation_failure_in_driver_entry_is_handled() {
    let points = wdm_sim::Kernel::low_resources_sweep("ioctl", wdm::entry::<ioctl::Ioctl>).unwrap();
    println!("ioctl: {points} allocation points in DriverEntry, each failed once");
    // the device and its link: a stateless driver with no timers, queues or work items allocates nothing else
    assert_eq!(points, 2);
}
