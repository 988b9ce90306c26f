//! The scenarios' Win32 side (`wdm_e2e_scenario`): every request through NtReadFile,
//! NtWriteFile or NtDeviceIoControlFile on an overlapped handle, so the transcript shows the
//! NTSTATUS the driver completed with (the Win32 calls turn it into an error code, and not
//! one to one), CancelIoEx to cancel, CloseHandle to close.

use std::ffi::c_void;

use wdm_e2e_scenario::{Completion, Executor, Request, Scenario, Started};
use windows_sys::Wdk::Storage::FileSystem::{NtReadFile, NtWriteFile};
use windows_sys::Wdk::System::IO::NtDeviceIoControlFile;
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, WAIT_OBJECT_0};
use windows_sys::Win32::System::IO::{CancelIoEx, IO_STATUS_BLOCK, OVERLAPPED};
use windows_sys::Win32::System::Threading::{CreateEventW, WaitForSingleObject};

/// STATUS_PENDING.
const PENDING: i32 = 0x103;

/// How long a request may take before it counts as lost.
const WAIT_MS: u32 = 5_000;

/// The Win32 executor.
pub(crate) struct Win32;

/// An open, overlapped handle (closed when dropped).
pub(crate) type Handle = crate::win::Device;

/// A request in flight: its status block, event and buffers live on the heap until the
/// request has completed (or, if it never does, forever: they are leaked, never freed under a
/// request that may still write them).
pub(crate) struct InFlight {
    handle: HANDLE,
    iosb: Box<IO_STATUS_BLOCK>,
    event: HANDLE,
    _input: Vec<u8>,
    output: Vec<u8>,
    returns_data: bool,
    finished: bool,
}

impl InFlight {
    /// Waits for the event; true once the request has completed.
    fn settle(&mut self, ms: u32) -> bool {
        // SAFETY: the request's own event, open until drop.
        self.finished = self.finished || unsafe { WaitForSingleObject(self.event, ms) } == WAIT_OBJECT_0;
        self.finished
    }

    fn completion(&self) -> Completion {
        // SAFETY: the request has completed: the status block is written and no longer shared.
        let status = unsafe { self.iosb.Anonymous.Status } as u32;
        let information = self.iosb.Information;
        let data = if self.returns_data {
            self.output[..information.min(self.output.len())].to_vec()
        } else {
            Vec::new()
        };
        Completion {
            status,
            information,
            data,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.settle(WAIT_MS) {
            // Still in flight: the system may read or write these blocks later, so they must
            // outlive it.
            std::mem::forget(std::mem::take(&mut self.output));
            std::mem::forget(std::mem::take(&mut self._input));
            let iosb = std::mem::replace(&mut self.iosb, Box::new(zeroed_iosb()));
            Box::leak(iosb);
            return;
        }
        // SAFETY: the event this value created; the request no longer uses it.
        unsafe { CloseHandle(self.event) };
    }
}

fn zeroed_iosb() -> IO_STATUS_BLOCK {
    // SAFETY: IO_STATUS_BLOCK is plain data; all zeroes is its initial state.
    unsafe { std::mem::zeroed() }
}

impl Executor for Win32 {
    type Handle = Handle;
    type Pending = InFlight;

    fn open(&mut self, path: &str) -> Result<Handle, String> {
        Handle::open(path).map_err(|e| format!("CreateFile error {e}"))
    }

    fn close(&mut self, handle: Handle) {
        drop(handle);
    }

    fn start(&mut self, handle: &Handle, request: &Request) -> Started<InFlight> {
        // SAFETY: a manual-reset, initially unsignaled, unnamed event.
        let event = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
        let (input, output, returns_data) = match request {
            Request::Read(n) => (Vec::new(), vec![0; *n], true),
            Request::Write(data) => (data.clone(), Vec::new(), false),
            Request::Ioctl { input, output, .. } => (input.clone(), vec![0; *output], true),
        };
        let mut op = InFlight {
            handle: handle.0,
            iosb: Box::new(zeroed_iosb()),
            event,
            _input: input,
            output,
            returns_data,
            finished: false,
        };
        let iosb: *mut IO_STATUS_BLOCK = &mut *op.iosb;
        let offset = 0i64;
        let status = match request {
            // SAFETY: the status block and buffers are heap blocks `op` keeps until the request
            // completes (see InFlight); the lengths are theirs.
            Request::Read(_) => unsafe {
                NtReadFile(
                    handle.0,
                    event,
                    None,
                    std::ptr::null(),
                    iosb,
                    op.output.as_mut_ptr().cast::<c_void>(),
                    op.output.len() as u32,
                    &offset,
                    std::ptr::null(),
                )
            },
            // SAFETY: as above.
            Request::Write(_) => unsafe {
                NtWriteFile(
                    handle.0,
                    event,
                    None,
                    std::ptr::null(),
                    iosb,
                    op._input.as_ptr().cast::<c_void>(),
                    op._input.len() as u32,
                    &offset,
                    std::ptr::null(),
                )
            },
            // SAFETY: as above.
            Request::Ioctl { code, .. } => unsafe {
                NtDeviceIoControlFile(
                    handle.0,
                    event,
                    None,
                    std::ptr::null(),
                    iosb,
                    *code,
                    op._input.as_ptr().cast::<c_void>(),
                    op._input.len() as u32,
                    op.output.as_mut_ptr().cast::<c_void>(),
                    op.output.len() as u32,
                )
            },
        };
        if status == PENDING {
            return Started::Pending(op);
        }
        if (status as u32) >> 30 == 3 {
            // An error (NT_ERROR) returned at once: the status block is not written for it.
            // (Warnings, such as STATUS_BUFFER_OVERFLOW, write it and fall through.)
            op.finished = true;
            return Started::Done(Completion {
                status: status as u32,
                information: 0,
                data: Vec::new(),
            });
        }
        // Completed at once with success or a warning: the status block and event are set.
        if !op.settle(WAIT_MS) {
            return Started::Done(Completion {
                status: u32::MAX,
                information: 0,
                data: Vec::new(),
            });
        }
        Started::Done(op.completion())
    }

    fn cancel(&mut self, request: &InFlight) {
        // The status block is the start of an OVERLAPPED (Internal, InternalHigh), which is how
        // CancelIoEx names the request.
        let overlapped: *const OVERLAPPED = (&raw const *request.iosb).cast();
        // SAFETY: the handle the request was sent on and the address its status block has.
        unsafe { CancelIoEx(request.handle, overlapped) };
    }

    fn wait(&mut self, mut request: InFlight) -> Completion {
        if request.settle(WAIT_MS) {
            request.completion()
        } else {
            Completion {
                status: u32::MAX,
                information: 0,
                data: Vec::new(),
            }
        }
    }
}

/// Runs a scenario: prints its transcript between `--- transcript` and `--- end` (for
/// `cargo xtask e2e` to compare with the simulator's), then one check per line against the
/// expected transcript. Returns (passed, failed).
pub(crate) fn run(scenario: Scenario) -> (usize, usize) {
    println!("--- transcript");
    let transcript = match wdm_e2e_scenario::run_with(&scenario.steps(), &mut Win32, |line| println!("{line}")) {
        Ok(t) => t,
        Err(e) => {
            println!("--- end\nFAIL the scenario itself: {e}");
            return (0, 1);
        }
    };
    println!("--- end");
    let expected: Vec<&str> = scenario.expected().lines().collect();
    let got: Vec<&str> = transcript.lines().collect();
    let (mut passed, mut failed) = (0, 0);
    for (i, want) in expected.iter().enumerate() {
        match got.get(i) {
            Some(line) if line == want => {
                passed += 1;
                println!("ok   {want}");
            }
            line => {
                failed += 1;
                println!("FAIL expected `{want}`, got `{}`", line.unwrap_or(&"<end>"));
            }
        }
    }
    if got.len() > expected.len() {
        failed += 1;
        println!("FAIL {} more lines than expected", got.len() - expected.len());
    }
    (passed, failed)
}
