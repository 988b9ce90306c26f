//! A user-mode model of the NT I/O manager, for testing WDM drivers on any host.
//!
//! Driver code built on `wdm-sys`'s `sim` backend runs unchanged: it reads and writes the same
//! IRP, IO_STACK_LOCATION, DEVICE_OBJECT and DRIVER_OBJECT layouts as in the kernel, and the
//! kernel routines it imports (`IoCreateDevice`, `IofCompleteRequest`, ...) resolve at link
//! time to this crate's implementations. Each [`Kernel`] is one simulated machine; a mistake
//! Windows would catch is reported as a [`Report`] with the [`Rule`] broken and the Windows
//! stop code, and a fatal one ends the scenario the way a bug check stops the machine.
//!
//! ```
//! use wdm_sim::{Kernel, Rule};
//! use wdm_sys::{NTSTATUS, PDRIVER_OBJECT, PUNICODE_STRING, STATUS_SUCCESS};
//!
//! // A driver that allocates pool and forgets to free it.
//! unsafe extern "C-unwind" fn entry(driver: PDRIVER_OBJECT, _path: PUNICODE_STRING) -> NTSTATUS {
//!     unsafe extern "C-unwind" fn unload(_driver: PDRIVER_OBJECT) {}
//!     // SAFETY: called by the simulator with a valid driver object.
//!     unsafe {
//!         (*driver).DriverUnload = Some(unload);
//!         wdm_sys::ntddk::ExAllocatePoolWithTag(wdm_sys::NON_PAGED_POOL_NX, 64, u32::from_le_bytes(*b"Leak"));
//!     }
//!     STATUS_SUCCESS
//! }
//!
//! let kernel = Kernel::new();
//! let driver = kernel.load("leaky", entry).expect("DriverEntry succeeds");
//! driver.unload();
//! assert!(kernel.was_reported(Rule::PoolLeak));
//! ```

mod cancel;
mod csq;
mod debug;
mod devqueue;
pub mod explore;
mod harness;
mod irp;
mod irql;
mod kernel;
mod misc;
mod object;
mod pool;
mod report;
mod request;
mod sched;
mod spinlock;
mod startio;
mod trace;

pub use debug::DebugLine;
pub use harness::{Driver, DriverEntry, File, Kernel, Pending};
pub use irp::Completion;
pub use pool::Allocation;
pub use report::{BugCheck, Report, Rule, Severity, StopCode};
pub use request::{Buffers, IoResult};
pub use trace::{Event, TraceEvent, major_name};
