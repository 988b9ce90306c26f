//! A user-mode model of the NT I/O manager, for testing WDM drivers on any host.
//!
//! Driver code built on `wdm-sys`'s `sim` backend runs unchanged: it reads and writes the same
//! IRP, IO_STACK_LOCATION, DEVICE_OBJECT and DRIVER_OBJECT layouts as in the kernel, and the
//! kernel routines it imports (`IoCreateDevice`, `IofCompleteRequest`, ...) resolve at link
//! time to this crate's implementations. Each [`Kernel`] is one simulated machine; a mistake
//! Windows would catch is reported as a [`Report`] with the [`Rule`] broken and the Windows
//! stop code, and a fatal one ends the scenario the way a bug check stops the machine.
//!
//! # A test, worked through
//!
//! The driver under test is usually built on `wdm` (see the samples); here it is a small raw
//! driver (hidden) that reverses IOCTL input and pends reads until they are cancelled.
//!
//! ```
//! use wdm_sim::{Kernel, Rule};
//! use wdm_sys::{STATUS_CANCELLED, STATUS_PENDING, STATUS_SUCCESS};
//! # use wdm_sys::ntddk::*;
//! # use wdm_sys::*;
//! # const IOCTL_REVERSE: u32 = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS);
//! # fn unicode(s: &'static [u16]) -> UNICODE_STRING {
//! #     UNICODE_STRING { Length: (s.len() * 2 - 2) as u16, MaximumLength: (s.len() * 2) as u16, Buffer: s.as_ptr().cast_mut() }
//! # }
//! # const DEVICE: &[u16] = &[92, 68, 101, 118, 105, 99, 101, 92, 69, 99, 104, 111, 0]; // \Device\Echo
//! # const LINK: &[u16] = &[92, 68, 111, 115, 68, 101, 118, 105, 99, 101, 115, 92, 69, 99, 104, 111, 0]; // \DosDevices\Echo
//! # unsafe extern "C-unwind" fn cancel(_d: PDEVICE_OBJECT, irp: PIRP) {
//! #     unsafe {
//! #         IoReleaseCancelSpinLock((*irp).CancelIrql);
//! #         (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_CANCELLED;
//! #         IoCompleteRequest(irp, 0);
//! #     }
//! # }
//! # unsafe extern "C-unwind" fn dispatch(_d: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
//! #     unsafe {
//! #         let stack = &*IoGetCurrentIrpStackLocation(irp);
//! #         match u32::from(stack.MajorFunction) {
//! #             IRP_MJ_READ => {
//! #                 IoMarkIrpPending(irp);
//! #                 IoSetCancelRoutine(irp, Some(cancel));
//! #                 return STATUS_PENDING;
//! #             }
//! #             IRP_MJ_DEVICE_CONTROL => {
//! #                 let p = stack.Parameters.DeviceIoControl;
//! #                 let buf = (*irp).AssociatedIrp.SystemBuffer.cast::<u8>();
//! #                 let n = p.InputBufferLength.min(p.OutputBufferLength) as usize;
//! #                 std::slice::from_raw_parts_mut(buf, n).reverse();
//! #                 (*irp).IoStatus.Information = n as u64;
//! #             }
//! #             _ => {}
//! #         }
//! #         (*irp).IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
//! #         IoCompleteRequest(irp, 0);
//! #     }
//! #     STATUS_SUCCESS
//! # }
//! # unsafe extern "C-unwind" fn unload(driver: PDRIVER_OBJECT) {
//! #     unsafe {
//! #         IoDeleteSymbolicLink(&mut unicode(LINK));
//! #         IoDeleteDevice((*driver).DeviceObject);
//! #     }
//! # }
//! # unsafe extern "C-unwind" fn entry(driver: PDRIVER_OBJECT, _path: PUNICODE_STRING) -> NTSTATUS {
//! #     unsafe {
//! #         let mut device = std::ptr::null_mut();
//! #         IoCreateDevice(driver, 0, &mut unicode(DEVICE), FILE_DEVICE_UNKNOWN, 0, 0, &mut device);
//! #         (*device).Flags |= DO_BUFFERED_IO;
//! #         IoCreateSymbolicLink(&mut unicode(LINK), &mut unicode(DEVICE));
//! #         for m in [IRP_MJ_CREATE, IRP_MJ_CLOSE, IRP_MJ_CLEANUP, IRP_MJ_READ, IRP_MJ_DEVICE_CONTROL] {
//! #             (*driver).MajorFunction[m as usize] = Some(dispatch);
//! #         }
//! #         (*driver).DriverUnload = Some(unload);
//! #     }
//! #     STATUS_SUCCESS
//! # }
//!
//! let kernel = Kernel::new();
//! let driver = kernel.load("echo", entry).expect("DriverEntry succeeds");
//! let file = kernel.open(r"\\.\Echo").expect("CreateFile succeeds");
//!
//! // A buffered IOCTL: input in, output back, IoStatus.Information bytes of it.
//! let r = file.ioctl(IOCTL_REVERSE, b"abc", 3);
//! assert_eq!((r.status, r.data()), (STATUS_SUCCESS, &b"cba"[..]));
//!
//! // An overlapped read that pends, cancelled as CancelIoEx would.
//! let read = file.start_read(16);
//! assert_eq!(read.returned, STATUS_PENDING);
//! assert!(read.cancel());
//! assert_eq!(read.wait().status, STATUS_CANCELLED);
//!
//! // Close, unload, and check: nothing leaked, no rule broken.
//! file.close();
//! driver.unload();
//! kernel.assert_clean();
//! assert!(!kernel.was_reported(Rule::DoubleCompletion));
//! ```
//!
//! What a broken driver looks like: a fatal violation ends the scenario like a bug check, and
//! [`Kernel::catch`] turns it into a value to assert on (`Err(BugCheck(report))`); warnings are
//! collected ([`Kernel::reports`], [`Kernel::take_reports`]). [`explore`] runs a scenario under
//! every schedule of its processors up to a pre-emption bound, so races are found and replayed.

// Under Miri (nightly) the simulator defines DbgPrintEx in Rust: see `miri_dbgprint`.
#![cfg_attr(miri, feature(c_variadic))]

// The simulator is laid out as NT's kernel is: one component per directory, each modelling the
// executive component of the same name (ReactOS's ntoskrnl/ tree has the same split).
mod debug;
/// Executive support: pool.
mod ex;
pub mod explore;
mod harness;
/// The I/O manager: IRPs, requests, cancellation, StartIo, cancel-safe queues, remove locks.
mod io;
/// The kernel core: IRQL, spin locks, DPCs, timers, events and waits, device queues, scheduling.
mod ke;
mod kernel;
#[cfg(miri)]
mod miri_dbgprint;
mod misc;
/// The memory manager: MDLs.
mod mm;
/// The object manager: driver and device objects, names, symbolic links, the boot namespace.
mod ob;
/// The PnP manager: the device tree, AddDevice, the PnP IRP sequences.
mod pnp;
/// The power manager: S-IRPs, PoRequestPowerIrp, PoSetPowerState, and their checks.
mod po;
pub mod stress;
mod trace;
/// Driver Verifier: rule violations, their stop codes, and how they are reported.
mod verifier;

// Component paths the rest of the crate uses (`crate::irp::...`), kept short.
use ex::pool;
use io::{cancel, irp, remlock, request, startio};
use ke::{devqueue, irql, sched, spinlock};
use mm::mdl;
pub use ob::namespace;
use ob::object;
use verifier::report;

pub use debug::DebugLine;
pub use harness::{Driver, DriverEntry, File, Kernel, Pending};
pub use irp::Completion;
pub use pnp::{DeviceNode, NodeState};
pub use po::{PowerIrp, PowerType};
pub use pool::Allocation;
pub use report::{BugCheck, Report, Rule, Severity, StopCode};
pub use request::{Buffers, IoResult};
pub use trace::{Event, TraceEvent, major_name};
