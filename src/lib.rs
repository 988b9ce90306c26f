//! A safe Rust framework for Windows kernel-mode WDM drivers.
//!
//! A driver is a type implementing [`Driver`]: its `init` runs in DriverEntry and creates
//! devices; its [`Dispatch`] table names the requests it handles; IRPs arrive as owned
//! [`Irp`] values that must be completed (exactly once) to produce the [`Outcome`] a handler
//! returns. Every callback is lent an [`Unlocked`] proof, which completing needs and holding a
//! spin lock borrows: no IRP is completed under a lock. [`driver_entry!`] exports the entry
//! point.
//!
//! The same driver builds three ways (see `wdm-sys`): against the WDK, against bundled
//! bindings for a `.sys` cross-built without the WDK, and against the simulator (`wdm-sim`)
//! for tests on any host.
//!
//! ```
//! use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, Irp, Outcome, Status, Unlocked, utf16};
//!
//! struct Minimal;
//!
//! impl Driver for Minimal {
//!     const DISPATCH: Dispatch<Self> = Dispatch::new().create(Self::success).close(Self::success);
//!
//!     fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
//!         driver.create_device(
//!             &DeviceOptions::new()
//!                 .name(utf16!("\\Device\\Minimal"))
//!                 .symbolic_link(utf16!("\\DosDevices\\Minimal")),
//!         )?;
//!         Ok(Minimal)
//!     }
//! }
//!
//! impl Minimal {
//!     fn success<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
//!         irp.complete(Status::SUCCESS, cx).into()
//!     }
//! }
//!
//! // On the simulator:
//! let kernel = wdm_sim::Kernel::new();
//! let driver = kernel.load("minimal", wdm::entry::<Minimal>).unwrap();
//! kernel.open(r"\\.\Minimal").unwrap().close();
//! driver.unload();
//! kernel.assert_clean();
//! ```

#![cfg_attr(not(test), no_std)]

extern crate alloc;

mod cancel;
mod completion;
mod csq;
mod deferred;
mod device;
mod driver;
mod dropped;
mod irp;
mod irql;
pub mod pnp;
mod pool;
#[doc(hidden)]
pub mod print;
mod queue;
mod request;
mod runtime;
mod sealed;
pub mod start_io;
mod status;
#[doc(hidden)]
pub mod string;
mod sync;
mod timer;
mod work;

#[cfg(wdm_backend = "sim")]
#[doc(hidden)]
pub mod host;

pub use cancel::{CancelLock, CancelLockReleased};
pub use completion::{CompletionRoutine, LowerCompleted, Next};
pub use csq::CsqQueue;
pub use device::{Device, DeviceOptions, IoMethod, LowerDevice, MAX_LINKS, Plain};
pub use driver::{Dispatch, Driver, DriverObject, Handler, MAJOR_FUNCTIONS, entry};
pub use irp::{Completed, Forwarded, Irp, Outcome, Pended, PendingIrp};
pub use irql::{DispatchLevel, at_dispatch};
pub use queue::{IrpQueue, QueuedIrp};
pub use request::{
    Buffered, FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, FILE_READ_ACCESS, FILE_WRITE_ACCESS, InDirect, Ioctl, Method,
    OutDirect, UserBuffers, ctl_code,
};
pub use runtime::{PANIC_BUGCHECK_CODE, POOL_TAG};
pub use start_io::StartIo;
pub use status::{CompletionStatus, Pending, Status};
pub use string::U16CStr;
pub use sync::{SpinLock, Unlocked};
pub use timer::{Timer, TimerCallback};
pub use work::{WorkCallback, WorkItem};

/// The raw bindings (`wdm-sys`), for what the safe API does not cover.
pub use wdm_sys as sys;

// On the simulator backend the kernel routines come from wdm-sim; linking it here means every
// program built on `wdm` gets them.
#[cfg(wdm_backend = "sim")]
extern crate wdm_sim;

/// Exports `DriverEntry` for driver type `$driver`. Put it in the driver's binary (`main.rs`).
///
/// On a host build (the simulator backend) it defines `main` instead: running the binary loads
/// the driver into a simulated machine, opens and closes its devices, unloads it, and reports
/// what happened.
#[cfg(not(wdm_backend = "sim"))]
#[macro_export]
macro_rules! driver_entry {
    ($driver:ty) => {
        /// The driver's entry point.
        ///
        /// # Safety
        /// Called by the I/O manager with a fresh driver object.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn DriverEntry(
            driver: $crate::sys::PDRIVER_OBJECT,
            registry_path: $crate::sys::PUNICODE_STRING,
        ) -> $crate::sys::NTSTATUS {
            // SAFETY: forwarded from the I/O manager.
            unsafe { $crate::entry::<$driver>(driver, registry_path) }
        }
    };
}

/// Exports `DriverEntry` for driver type `$driver`. Put it in the driver's binary (`main.rs`).
///
/// On a host build (the simulator backend) it defines `main` instead: running the binary loads
/// the driver into a simulated machine, opens and closes its devices, unloads it, and reports
/// what happened.
#[cfg(wdm_backend = "sim")]
#[macro_export]
macro_rules! driver_entry {
    ($driver:ty) => {
        /// Loads the driver into the simulator and reports on it.
        #[unsafe(no_mangle)]
        pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
            $crate::host::run::<$driver>(::core::env!("CARGO_PKG_NAME"))
        }
    };
}

/// Exports `DriverEntry` for a PnP driver whose devices are `$device` (a
/// [`PnpDevice`](crate::pnp::PnpDevice)). Put it in the driver's binary (`main.rs`).
///
/// On a host build (the simulator backend) it defines `main` instead: running the binary loads
/// the driver, gives it a root-enumerated device, starts, opens, surprise-removes it, unloads,
/// and reports what happened.
#[cfg(not(wdm_backend = "sim"))]
#[macro_export]
macro_rules! pnp_driver_entry {
    ($device:ty) => {
        /// The driver's entry point.
        ///
        /// # Safety
        /// Called by the I/O manager with a fresh driver object.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn DriverEntry(
            driver: $crate::sys::PDRIVER_OBJECT,
            registry_path: $crate::sys::PUNICODE_STRING,
        ) -> $crate::sys::NTSTATUS {
            // SAFETY: forwarded from the I/O manager.
            unsafe { $crate::pnp::entry::<$device>(driver, registry_path) }
        }
    };
}

/// Exports `DriverEntry` for a PnP driver whose devices are `$device` (a
/// [`PnpDevice`](crate::pnp::PnpDevice)). Put it in the driver's binary (`main.rs`).
///
/// On a host build (the simulator backend) it defines `main` instead: running the binary loads
/// the driver, gives it a root-enumerated device, starts, opens, surprise-removes it, unloads,
/// and reports what happened.
#[cfg(wdm_backend = "sim")]
#[macro_export]
macro_rules! pnp_driver_entry {
    ($device:ty) => {
        /// Loads the driver into the simulator and reports on it.
        #[unsafe(no_mangle)]
        pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
            $crate::host::run_pnp::<$device>(::core::env!("CARGO_PKG_NAME"))
        }
    };
}
