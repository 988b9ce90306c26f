//! The end-to-end client: opens a sample's device from user mode and exercises it with
//! CreateFile, ReadFile/WriteFile, DeviceIoControl and CancelIoEx, checking every result.
//!
//! `wdm-e2e-client <sample>` prints one line per check (`ok` or `FAIL`) and exits with 0 when
//! every check passed, 1 otherwise, 2 on bad usage. `cargo xtask e2e` runs it under Wine next to
//! the sample's `.sys`; it runs the same way on Windows with the driver installed.

#[cfg(not(windows))]
fn main() {
    eprintln!("wdm-e2e-client talks to Windows drivers: build it for x86_64-pc-windows-gnu and run it under Wine");
    std::process::exit(2);
}

#[cfg(windows)]
mod pnp;
#[cfg(windows)]
mod scenario;
#[cfg(windows)]
mod toaster_abi;

#[cfg(windows)]
fn main() {
    let sample = std::env::args().nth(1).unwrap_or_default();
    std::process::exit(win::run(&sample));
}

#[cfg(windows)]
pub(crate) mod win {
    use std::cell::Cell;
    use std::ffi::c_void;
    use std::time::{Duration, Instant};

    use windows_sys::Win32::Foundation::{
        CloseHandle, ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_FUNCTION, ERROR_INVALID_PARAMETER,
        ERROR_INVALID_USER_BUFFER, ERROR_IO_PENDING, ERROR_OPERATION_ABORTED, GENERIC_READ, GENERIC_WRITE,
        GetLastError, HANDLE, INVALID_HANDLE_VALUE, WAIT_OBJECT_0,
    };
    use windows_sys::Win32::Storage::FileSystem::{
        CreateFileW, FILE_FLAG_OVERLAPPED, OPEN_EXISTING, ReadFile, WriteFile,
    };
    use windows_sys::Win32::System::IO::{CancelIoEx, DeviceIoControl, GetOverlappedResult, OVERLAPPED};
    use windows_sys::Win32::System::Threading::{CreateEventW, WaitForSingleObject};

    /// Counts and prints checks.
    struct Checks {
        failed: usize,
        passed: usize,
    }

    impl Checks {
        fn check(&mut self, what: &str, ok: bool, detail: impl std::fmt::Display) {
            if ok {
                self.passed += 1;
                println!("ok   {what}");
            } else {
                self.failed += 1;
                println!("FAIL {what}: {detail}");
            }
        }
    }

    /// An open device handle (overlapped), and whether it was closed early (`close`).
    pub(crate) struct Device(pub(crate) HANDLE, Cell<bool>);

    impl Drop for Device {
        fn drop(&mut self) {
            if !self.1.get() {
                // SAFETY: a handle this value owns, not closed yet.
                unsafe { CloseHandle(self.0) };
            }
        }
    }

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(Some(0)).collect()
    }

    impl Device {
        pub(crate) fn open(name: &str) -> Result<Self, u32> {
            let name = wide(name);
            // SAFETY: a NUL-terminated name; no security attributes or template.
            let h = unsafe {
                CreateFileW(
                    name.as_ptr(),
                    GENERIC_READ | GENERIC_WRITE,
                    0,
                    std::ptr::null(),
                    OPEN_EXISTING,
                    FILE_FLAG_OVERLAPPED,
                    std::ptr::null_mut(),
                )
            };
            if h == INVALID_HANDLE_VALUE {
                // SAFETY: no preconditions.
                Err(unsafe { GetLastError() })
            } else {
                Ok(Self(h, Cell::new(false)))
            }
        }

        /// Closes the handle while requests on it may still be in flight (they keep their
        /// events, which is all `Op::wait` and its drop need once the handle is gone).
        fn close(&self) {
            if !self.1.replace(true) {
                // SAFETY: a handle this value owns, closed once (the flag).
                unsafe { CloseHandle(self.0) };
            }
        }

        /// Starts an overlapped request.
        fn start(&self, kind: Kind, input: &[u8], output_len: usize) -> Op<'_> {
            // SAFETY: a manual-reset, initially unsignaled, unnamed event.
            let event = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
            let mut op = Op {
                device: self,
                overlapped: Box::new(OVERLAPPED {
                    hEvent: event,
                    // SAFETY: OVERLAPPED is plain data; zero is its initial state.
                    ..unsafe { std::mem::zeroed() }
                }),
                input: input.to_vec(),
                output: vec![0; output_len],
                started: Ok(()),
            };
            let ov: *mut OVERLAPPED = &mut *op.overlapped;
            let mut n = 0u32;
            // The buffers and OVERLAPPED are heap blocks owned by `op`, which waits for the
            // request to finish before it frees them (Drop).
            let ok = match kind {
                // SAFETY: as above; lengths match the buffers.
                Kind::Ioctl(code) => unsafe {
                    DeviceIoControl(
                        self.0,
                        code,
                        op.input.as_ptr().cast::<c_void>(),
                        op.input.len() as u32,
                        op.output.as_mut_ptr().cast::<c_void>(),
                        op.output.len() as u32,
                        &mut n,
                        ov,
                    )
                },
                // SAFETY: as above.
                Kind::Read => unsafe { ReadFile(self.0, op.output.as_mut_ptr(), op.output.len() as u32, &mut n, ov) },
                // SAFETY: as above.
                Kind::Write => unsafe { WriteFile(self.0, op.input.as_ptr(), op.input.len() as u32, &mut n, ov) },
            };
            if ok == 0 {
                // SAFETY: no preconditions.
                let e = unsafe { GetLastError() };
                if e != ERROR_IO_PENDING {
                    op.started = Err(e);
                }
            }
            op
        }

        fn call(&self, kind: Kind, input: &[u8], output_len: usize) -> Result<Vec<u8>, u32> {
            self.start(kind, input, output_len).wait(Duration::from_secs(10))
        }

        /// A write: the number of bytes written, or the Win32 error.
        fn write(&self, data: &[u8]) -> Result<usize, u32> {
            self.start(Kind::Write, data, 0).transferred(Duration::from_secs(10))
        }
    }

    #[derive(Clone, Copy)]
    enum Kind {
        Ioctl(u32),
        Read,
        Write,
    }

    /// An overlapped request in flight.
    struct Op<'d> {
        device: &'d Device,
        overlapped: Box<OVERLAPPED>,
        input: Vec<u8>,
        output: Vec<u8>,
        started: Result<(), u32>,
    }

    impl Op<'_> {
        fn cancel(&mut self) -> bool {
            if self.device.1.get() {
                return false; // the handle is closed (its value may name another object now)
            }
            // SAFETY: the handle and this request's OVERLAPPED.
            unsafe { CancelIoEx(self.device.0, &*self.overlapped) != 0 }
        }

        fn is_done(&self) -> bool {
            // SAFETY: the request's event.
            self.started.is_err() || unsafe { WaitForSingleObject(self.overlapped.hEvent, 0) } == WAIT_OBJECT_0
        }

        /// The number of bytes the driver reported (`Information`), or the Win32 error.
        fn transferred(self, timeout: Duration) -> Result<usize, u32> {
            self.wait_counted(timeout).map(|(n, _)| n)
        }

        /// The output (as long as the driver said), or the Win32 error.
        fn wait(self, timeout: Duration) -> Result<Vec<u8>, u32> {
            self.wait_counted(timeout).map(|(_, out)| out)
        }

        /// The byte count GetOverlappedResult reports and the output truncated to it.
        fn wait_counted(mut self, timeout: Duration) -> Result<(usize, Vec<u8>), u32> {
            self.started?;
            // SAFETY: the request's event.
            let w = unsafe { WaitForSingleObject(self.overlapped.hEvent, timeout.as_millis() as u32) };
            if w != WAIT_OBJECT_0 {
                self.cancel();
                return Err(u32::MAX);
            }
            let mut n = 0u32;
            // SAFETY: a finished request on this handle.
            let ok = unsafe { GetOverlappedResult(self.device.0, &*self.overlapped, &mut n, 0) };
            if ok == 0 {
                // SAFETY: no preconditions.
                return Err(unsafe { GetLastError() });
            }
            let mut out = std::mem::take(&mut self.output);
            out.truncate(n as usize);
            Ok((n as usize, out))
        }
    }

    impl Drop for Op<'_> {
        fn drop(&mut self) {
            if self.started.is_ok() {
                let mut n = 0u32;
                // SAFETY: waits (bWait = TRUE) until the request no longer uses our buffers.
                unsafe { GetOverlappedResult(self.device.0, &*self.overlapped, &mut n, 1) };
            }
            // SAFETY: the event this value created.
            unsafe { CloseHandle(self.overlapped.hEvent) };
        }
    }

    const fn ctl_code(device_type: u32, function: u32, method: u32, access: u32) -> u32 {
        (device_type << 16) | (access << 14) | (function << 2) | method
    }

    pub fn run(sample: &str) -> i32 {
        let mut c = Checks { failed: 0, passed: 0 };
        match sample {
            "minimal" => minimal(&mut c),
            "event" => event(&mut c),
            "ioctl" => ioctl(&mut c),
            "csq" => csq(&mut c),
            "cancel" => cancel(&mut c),
            "startio" => startio(&mut c),
            "wdmpnp" => wdmpnp(&mut c),
            "toaster" => toaster(&mut c),
            _ => {
                eprintln!("usage: wdm-e2e-client minimal|event|ioctl|csq|cancel|startio|wdmpnp|toaster");
                return 2;
            }
        }
        println!("{} passed, {} failed", c.passed, c.failed);
        i32::from(c.failed > 0)
    }

    fn open(c: &mut Checks, name: &str) -> Option<Device> {
        let d = Device::open(name);
        c.check(
            &format!("open {name}"),
            d.is_ok(),
            format!("error {:?}", d.as_ref().err()),
        );
        d.ok()
    }

    /// The PnP fixture (e2e/wine/pnp-fixture, installed through SetupAPI): found by its
    /// interface class with `crate::pnp`, then one IOCTL.
    fn wdmpnp(c: &mut Checks) {
        const INTERFACE: windows_sys::core::GUID =
            windows_sys::core::GUID::from_u128(0x8f4c3b1e_2d7a_4e59_a1c6_5b0e9d2f7a31);
        let path = crate::pnp::wait_interface_path(&INTERFACE, Duration::from_secs(5));
        c.check(
            "the fixture's interface is present (SetupDiGetClassDevs, SetupDiGetDeviceInterfaceDetailW)",
            path.is_ok(),
            format!("error {:?}", path.as_ref().err()),
        );
        let Ok(path) = path else { return };
        println!("     {path}");
        let Some(d) = open(c, &path) else { return };
        let echo = ctl_code(0x22, 0x900, 0, 0);
        let r = d.call(Kind::Ioctl(echo), &0x1234u32.to_le_bytes(), 4);
        c.check(
            "IOCTL_WDMPNP_ECHO returns the input xor the key",
            r == Ok((0x1234u32 ^ 0x5A5A_0000).to_le_bytes().to_vec()),
            format!("{r:?}"),
        );
    }

    /// The toaster (samples/toaster, a PnP function driver installed on `root\wdmtoaster`
    /// through SetupAPI): found by GUID_DEVINTERFACE_TOASTER, then its I/O, its counters, its
    /// errors and its waits. What a handle's close does to a pending wait is Wine's: Wine 8
    /// never sends IRP_MJ_CLEANUP, so the wait stays pending (on Windows the toaster's cleanup
    /// cancels it, which the simulator tests: `closing_the_handle_cancels_its_waits`) until the
    /// next write completes it.
    fn toaster(c: &mut Checks) {
        use crate::toaster_abi::{
            CAPACITY, GUID_DEVINTERFACE_TOASTER, IOCTL_TOASTER_GET_STATS, IOCTL_TOASTER_WAIT, Stats,
        };
        let class = windows_sys::core::GUID::from_u128(GUID_DEVINTERFACE_TOASTER);
        let path = crate::pnp::wait_interface_path(&class, Duration::from_secs(5));
        c.check(
            "GUID_DEVINTERFACE_TOASTER is present (SetupDiGetClassDevs, SetupDiGetDeviceInterfaceDetailW)",
            path.is_ok(),
            format!("error {:?}", path.as_ref().err()),
        );
        let Ok(path) = path else { return };
        println!("     {path}");
        let Some(d) = open(c, &path) else { return };
        let stats = |d: &Device| {
            d.call(Kind::Ioctl(IOCTL_TOASTER_GET_STATS), &[], Stats::SIZE)
                .map(|b| Stats::decode(&b))
        };

        let r = d.write(b"toast");
        c.check(
            "a 5-byte write succeeds with 5 bytes written",
            r == Ok(5),
            format!("{r:?}"),
        );
        let r = d.call(Kind::Read, &[], 64);
        c.check(
            "a read returns what was written",
            r.as_deref() == Ok(&b"toast"[..]),
            format!("{r:?}"),
        );
        let s = stats(&d);
        c.check(
            "IOCTL_TOASTER_GET_STATS: starts 1, 1 read, 1 write, no stop, no power transition",
            s == Ok(Some(Stats {
                starts: 1,
                reads: 1,
                writes: 1,
                ..Stats::default()
            })),
            format!("{s:?}"),
        );
        let r = d.call(Kind::Ioctl(IOCTL_TOASTER_GET_STATS), &[], 4);
        c.check(
            "GET_STATS into 4 bytes fails with ERROR_INSUFFICIENT_BUFFER (STATUS_BUFFER_TOO_SMALL)",
            r == Err(ERROR_INSUFFICIENT_BUFFER),
            format!("{r:?}"),
        );
        let r = d.write(&[0x55; CAPACITY + 1]);
        c.check(
            "a write of CAPACITY + 1 bytes fails with ERROR_INVALID_USER_BUFFER (STATUS_INVALID_BUFFER_SIZE)",
            r == Err(ERROR_INVALID_USER_BUFFER),
            format!("{r:?}"),
        );
        let r = d.call(Kind::Read, &[], 64);
        c.check(
            "and leaves the contents alone",
            r.as_deref() == Ok(&b"toast"[..]),
            format!("{r:?}"),
        );
        let r = d.call(Kind::Ioctl(ctl_code(0x22, 0x8ff, 0, 0)), &[], 0);
        c.check(
            "an unknown IOCTL fails with ERROR_INVALID_FUNCTION (STATUS_INVALID_DEVICE_REQUEST)",
            r == Err(ERROR_INVALID_FUNCTION),
            format!("{r:?}"),
        );

        // A wait on a second handle, completed by a write on the first.
        let Some(w) = open(c, &path) else { return };
        let wait = w.start(Kind::Ioctl(IOCTL_TOASTER_WAIT), &[], 0);
        std::thread::sleep(Duration::from_millis(100));
        c.check(
            "IOCTL_TOASTER_WAIT is pending after 100 ms",
            !wait.is_done(),
            "it completed",
        );
        let r = d.write(b"crumbs!");
        c.check(
            "a 7-byte write on the other handle succeeds",
            r == Ok(7),
            format!("{r:?}"),
        );
        let done = wait.is_done() || {
            std::thread::sleep(Duration::from_millis(200));
            wait.is_done()
        };
        c.check("and completes the wait", done, "the wait is still pending");
        let r = wait.transferred(Duration::from_secs(5));
        c.check(
            "with STATUS_SUCCESS and the write's length (7) as Information",
            r == Ok(7),
            format!("{r:?}"),
        );

        // A second wait, cancelled.
        let mut wait = w.start(Kind::Ioctl(IOCTL_TOASTER_WAIT), &[], 0);
        std::thread::sleep(Duration::from_millis(50));
        c.check("a second wait is pending", !wait.is_done(), "it completed");
        c.check("CancelIoEx finds it", wait.cancel(), "CancelIoEx failed");
        let r = wait.wait(Duration::from_secs(5));
        c.check(
            "the cancelled wait ends with ERROR_OPERATION_ABORTED (STATUS_CANCELLED)",
            r == Err(ERROR_OPERATION_ABORTED),
            format!("{r:?}"),
        );

        // A wait left pending when its handle closes.
        let stranded = w.start(Kind::Ioctl(IOCTL_TOASTER_WAIT), &[], 0);
        std::thread::sleep(Duration::from_millis(50));
        c.check("a third wait is pending", !stranded.is_done(), "it completed");
        w.close();
        std::thread::sleep(Duration::from_millis(300));
        let cleaned = stranded.is_done();
        c.check(
            "closing its handle leaves it pending (Wine 8 sends no IRP_MJ_CLEANUP; Windows would cancel it)",
            !cleaned,
            "it completed: the close cancelled it (a cleanup reached the driver?)",
        );
        let r = d.write(b"abc");
        c.check("a 3-byte write succeeds", r == Ok(3), format!("{r:?}"));
        let r = stranded.transferred(Duration::from_secs(5));
        c.check(
            "and completes the wait of the closed handle (STATUS_SUCCESS, Information 3)",
            r == Ok(3),
            format!("{r:?}"),
        );
        let s = stats(&d);
        c.check(
            "GET_STATS at the end: starts 1, 2 reads, 3 writes, 2 waits completed by a write, no stop, no power transition",
            s == Ok(Some(Stats {
                starts: 1,
                reads: 2,
                writes: 3,
                waits: 2,
                ..Stats::default()
            })),
            format!("{s:?}"),
        );
    }

    fn minimal(c: &mut Checks) {
        let Some(d) = open(c, r"\\.\Minimal") else { return };
        let r = d.call(Kind::Ioctl(0x22_2000), &[], 0);
        c.check(
            "an IOCTL without a handler fails with ERROR_INVALID_FUNCTION",
            r == Err(ERROR_INVALID_FUNCTION),
            format!("{r:?}"),
        );
        let r = d.call(Kind::Read, &[], 4);
        c.check(
            "a read without a handler fails",
            r == Err(ERROR_INVALID_FUNCTION),
            format!("{r:?}"),
        );
    }

    const EVENT_WAIT: u32 = ctl_code(0x22, 0x800, 0, 0);

    fn event(c: &mut Checks) {
        let Some(d) = open(c, r"\\.\Event") else { return };
        let began = Instant::now();
        let r = d.call(Kind::Ioctl(EVENT_WAIT), &100u32.to_le_bytes(), 0);
        let took = began.elapsed();
        c.check("a 100 ms wait succeeds", r.is_ok(), format!("{r:?}"));
        c.check(
            "and takes at least 100 ms",
            took >= Duration::from_millis(100),
            format!("{took:?}"),
        );
        let r = d.call(Kind::Ioctl(EVENT_WAIT), &[1, 2, 3], 0);
        c.check(
            "a 3-byte input fails with ERROR_INVALID_PARAMETER",
            r == Err(ERROR_INVALID_PARAMETER),
            format!("{r:?}"),
        );
        let r = d.call(Kind::Ioctl(EVENT_WAIT + 4), &[0; 4], 0);
        c.check(
            "an unknown code fails with ERROR_INVALID_FUNCTION",
            r == Err(ERROR_INVALID_FUNCTION),
            format!("{r:?}"),
        );
        let mut long = d.start(Kind::Ioctl(EVENT_WAIT), &60_000u32.to_le_bytes(), 0);
        std::thread::sleep(Duration::from_millis(50));
        c.check("a 60 s wait is pending after 50 ms", !long.is_done(), "it completed");
        c.check("CancelIoEx finds it", long.cancel(), "CancelIoEx failed");
        let r = long.wait(Duration::from_secs(5));
        c.check(
            "the cancelled wait ends with ERROR_OPERATION_ABORTED",
            r == Err(ERROR_OPERATION_ABORTED),
            format!("{r:?}"),
        );
        let waits: Vec<_> = [30u32, 10, 20]
            .iter()
            .map(|ms| d.start(Kind::Ioctl(EVENT_WAIT), &ms.to_le_bytes(), 0))
            .collect();
        let all = waits.into_iter().all(|w| w.wait(Duration::from_secs(5)).is_ok());
        c.check("three overlapped waits all complete", all, "one did not");
    }

    const SIOCTL: u32 = 40000;
    const IOCTLS: [(&str, u32); 4] = [
        ("in-direct", ctl_code(SIOCTL, 0x900, 1, 0)),
        ("out-direct", ctl_code(SIOCTL, 0x901, 2, 0)),
        ("buffered", ctl_code(SIOCTL, 0x902, 0, 0)),
        ("neither", ctl_code(SIOCTL, 0x903, 3, 0)),
    ];
    const DATA: &[u8] = b"This String is from Device Driver !!!\0";

    fn ioctl(c: &mut Checks) {
        let Some(d) = open(c, r"\\.\IoctlTest") else { return };
        for (name, code) in IOCTLS {
            let input = format!("This String is from User Application; using {name}\0");
            let r = d.call(Kind::Ioctl(code), input.as_bytes(), 100);
            if name == "in-direct" {
                c.check(
                    &format!("{name}: succeeds and reports the second buffer's length"),
                    r.as_ref().map(Vec::len) == Ok(100),
                    format!("{r:?}"),
                );
            } else {
                c.check(
                    &format!("{name}: returns the driver's string"),
                    r.as_deref() == Ok(DATA),
                    format!("{r:?}"),
                );
            }
            let r = d.call(Kind::Ioctl(code), &[], 100);
            c.check(
                &format!("{name}: no input fails with ERROR_INVALID_PARAMETER"),
                r == Err(ERROR_INVALID_PARAMETER),
                format!("{r:?}"),
            );
            let r = d.call(Kind::Ioctl(code), &[b'x'; 257], 100);
            c.check(
                &format!("{name}: 257 input bytes fail with ERROR_INVALID_PARAMETER"),
                r == Err(ERROR_INVALID_PARAMETER),
                format!("{r:?}"),
            );
            if name != "in-direct" {
                let r = d.call(Kind::Ioctl(code), b"x", DATA.len() - 1);
                c.check(
                    &format!("{name}: a short output fails with ERROR_INSUFFICIENT_BUFFER"),
                    r == Err(ERROR_INSUFFICIENT_BUFFER),
                    format!("{r:?}"),
                );
            }
        }
        let r = d.call(Kind::Ioctl(ctl_code(SIOCTL, 0x904, 0, 0)), b"x", 100);
        c.check(
            "an unknown code fails with ERROR_INVALID_FUNCTION",
            r == Err(ERROR_INVALID_FUNCTION),
            format!("{r:?}"),
        );
    }

    fn csq(c: &mut Checks) {
        let Some(d) = open(c, r"\\.\CancelSafeQueue") else {
            return;
        };
        let reads: Vec<_> = (0..5).map(|_| d.start(Kind::Read, &[], 8)).collect();
        let results: Vec<_> = reads.into_iter().map(|r| r.wait(Duration::from_secs(5))).collect();
        let filled = results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|b| b.len() == 8 && b.iter().all(|&x| x == b[0])));
        c.check(
            "five overlapped reads are answered by the worker",
            filled,
            format!("{results:?}"),
        );
        let firsts: Vec<u8> = results
            .iter()
            .filter_map(|r| r.as_ref().ok()?.first().copied())
            .collect();
        c.check(
            "in order (sequence numbers increase by one)",
            firsts.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
            format!("{firsts:?}"),
        );
        let mut cancelled = 0;
        let mut answered = 0;
        let mut other = Vec::new();
        for _ in 0..50 {
            let mut r = d.start(Kind::Read, &[], 4);
            r.cancel();
            match r.wait(Duration::from_secs(5)) {
                Ok(_) => answered += 1,
                Err(ERROR_OPERATION_ABORTED) => cancelled += 1,
                Err(e) => other.push(e),
            }
        }
        c.check(
            "50 reads cancelled at once: each is answered or aborted, never lost",
            other.is_empty() && cancelled + answered == 50,
            format!("{other:?}"),
        );
        println!("     ({cancelled} aborted, {answered} answered before the cancel)");
        let r = d.call(Kind::Write, b"x", 0);
        c.check(
            "a write fails with ERROR_INVALID_FUNCTION",
            r == Err(ERROR_INVALID_FUNCTION),
            format!("{r:?}"),
        );
    }

    fn cancel(c: &mut Checks) {
        const NAME: &str = r"\\.\CancelSample";
        let Some(d) = open(c, NAME) else { return };
        let reads: Vec<_> = (0..5).map(|_| d.start(Kind::Read, &[], 8)).collect();
        let results: Vec<_> = reads.into_iter().map(|r| r.wait(Duration::from_secs(5))).collect();
        let sequences: Vec<u32> = results
            .iter()
            .filter_map(|r| Some(u32::from_le_bytes(r.as_ref().ok()?.as_slice().try_into().ok()?)))
            .collect();
        c.check(
            "five overlapped reads are answered by the worker, each with an INPUT_DATA (4 bytes)",
            sequences.len() == 5,
            format!("{results:?}"),
        );
        c.check(
            "in order (sequence numbers increase by one)",
            sequences.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
            format!("{sequences:?}"),
        );
        let r = d.call(Kind::Read, &[], 2);
        c.check(
            "a read shorter than INPUT_DATA fails with ERROR_INSUFFICIENT_BUFFER",
            r == Err(ERROR_INSUFFICIENT_BUFFER),
            format!("{r:?}"),
        );
        let mut cancelled = 0;
        let mut answered = 0;
        let mut other = Vec::new();
        for _ in 0..50 {
            let mut r = d.start(Kind::Read, &[], 4);
            r.cancel();
            match r.wait(Duration::from_secs(5)) {
                Ok(_) => answered += 1,
                Err(ERROR_OPERATION_ABORTED) => cancelled += 1,
                Err(e) => other.push(e),
            }
        }
        c.check(
            "50 reads cancelled at once: each is answered or aborted, never lost",
            other.is_empty() && cancelled + answered == 50,
            format!("{other:?}"),
        );
        println!("     ({cancelled} aborted, {answered} answered before the cancel)");
        // A second handle closed with reads outstanding: IRP_MJ_CLEANUP cancels those still
        // queued (Windows; Wine sends no cleanup, and the worker answers them).
        if let Some(e) = open(c, NAME) {
            let reads: Vec<_> = (0..20).map(|_| e.start(Kind::Read, &[], 4)).collect();
            e.close();
            let (mut aborted, mut answered, mut other) = (0, 0, Vec::new());
            for r in reads {
                match r.wait(Duration::from_secs(5)) {
                    Ok(b) if b.len() == 4 => answered += 1,
                    Err(ERROR_OPERATION_ABORTED) => aborted += 1,
                    r => other.push(format!("{r:?}")),
                }
            }
            c.check(
                "a handle closed with 20 reads outstanding: each is answered or aborted, never lost",
                other.is_empty() && aborted + answered == 20,
                format!("{other:?}"),
            );
            println!("     ({aborted} aborted by the close, {answered} answered before it)");
        }
        let r = d.call(Kind::Read, &[], 4);
        c.check(
            "the other handle is still served",
            r.as_ref().is_ok_and(|b| b.len() == 4),
            format!("{r:?}"),
        );
        let r = d.call(Kind::Write, b"x", 0);
        c.check(
            "a write fails with ERROR_INVALID_FUNCTION",
            r == Err(ERROR_INVALID_FUNCTION),
            format!("{r:?}"),
        );
    }

    /// The startio sample through its end-to-end scenario (`wdm_e2e_scenario::STARTIO`): one
    /// check per transcript line.
    fn startio(c: &mut Checks) {
        let (passed, failed) = crate::scenario::run(wdm_e2e_scenario::STARTIO);
        c.passed += passed;
        c.failed += failed;
    }
}
