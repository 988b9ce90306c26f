//! The simulator's side: each step through `wdm_sim`'s harness, as a test would write it.
//!
//! ```
//! use wdm_e2e_scenario::{sim::Simulator, Step};
//! let kernel = wdm_sim::Kernel::new();
//! let transcript = wdm_e2e_scenario::run(
//!     &[Step::Open { handle: "a", path: r"\\.\Nothing" }],
//!     &mut Simulator::new(&kernel),
//! );
//! assert_eq!(transcript.unwrap(), "open a: failed\n");
//! ```

use std::time::Duration;

use wdm_sim::{File, IoResult, Kernel, Pending};

use crate::{Completion, Executor, Request, Started};

/// How long a wait lasts before the request counts as lost.
const WAIT: Duration = Duration::from_secs(10);

/// STATUS_PENDING.
const PENDING: i32 = 0x103;

/// Carries out scenarios on a simulated kernel with the driver already loaded.
///
/// ```
/// let kernel = wdm_sim::Kernel::new();
/// let _executor = wdm_e2e_scenario::sim::Simulator::new(&kernel);
/// ```
pub struct Simulator<'k> {
    kernel: &'k Kernel,
}

impl<'k> Simulator<'k> {
    /// An executor on `kernel`.
    ///
    /// ```
    /// let kernel = wdm_sim::Kernel::new();
    /// let _executor = wdm_e2e_scenario::sim::Simulator::new(&kernel);
    /// ```
    pub fn new(kernel: &'k Kernel) -> Self {
        Self { kernel }
    }
}

/// A request in flight, and whether its output counts (reads and device controls).
///
/// ```
/// use wdm_e2e_scenario::{sim::InFlight, Executor, sim::Simulator};
/// fn pending_type<'k>(_: &Simulator<'k>) -> Option<InFlight<'k>> { None }
/// let kernel = wdm_sim::Kernel::new();
/// assert!(pending_type(&Simulator::new(&kernel)).is_none());
/// ```
pub struct InFlight<'k> {
    pending: Pending<'k>,
    returns_data: bool,
}

fn completion(result: &IoResult, returns_data: bool) -> Completion {
    Completion {
        status: result.status as u32,
        information: result.information,
        data: if returns_data {
            result.data().to_vec()
        } else {
            Vec::new()
        },
    }
}

impl<'k> Executor for Simulator<'k> {
    type Handle = File<'k>;
    type Pending = InFlight<'k>;

    fn open(&mut self, path: &str) -> Result<File<'k>, String> {
        self.kernel.open(path).map_err(|status| format!("{status:#010x}"))
    }

    fn close(&mut self, handle: File<'k>) {
        handle.close();
    }

    fn start(&mut self, handle: &File<'k>, request: &Request) -> Started<InFlight<'k>> {
        let (pending, returns_data) = match request {
            Request::Read(n) => (handle.start_read(*n), true),
            Request::Write(data) => (handle.start_write(data), false),
            Request::Ioctl { code, input, output } => (handle.start_ioctl(*code, input, *output), true),
        };
        if pending.returned == PENDING {
            Started::Pending(InFlight { pending, returns_data })
        } else if (pending.returned as u32) >> 30 == 3 {
            // An error returned at once: user mode sees only the status (the I/O manager
            // writes neither the status block nor the caller's buffer for it).
            let returned = pending.returned as u32;
            let _ = pending.wait();
            Started::Done(Completion {
                status: returned,
                information: 0,
                data: Vec::new(),
            })
        } else {
            Started::Done(completion(&pending.wait(), returns_data))
        }
    }

    fn cancel(&mut self, request: &InFlight<'k>) {
        request.pending.cancel();
    }

    fn wait(&mut self, request: InFlight<'k>) -> Completion {
        match request.pending.wait_for(WAIT) {
            Some(result) => completion(&result, request.returns_data),
            None => Completion {
                status: u32::MAX,
                information: 0,
                data: Vec::new(),
            },
        }
    }
}
