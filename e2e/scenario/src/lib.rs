//! Scenarios that run twice: under a real PE loader (Wine, or Windows) through the end-to-end
//! client, and on the simulator in a test. Both print the same transcript, so the comparison is
//! a line-by-line one: the same statuses, the same `Information`, the same bytes, in the same
//! order. Where the two disagree, either the simulator or the loader is wrong about the I/O
//! manager, and the transcript says where.
//!
//! A scenario is data ([`Step`]s); an [`Executor`] carries the steps out on one side. The
//! transcript records what a user-mode caller can observe and both sides observe the same
//! way: the NTSTATUS and `Information` a request ended with, the bytes a read returned, and
//! whether a request was still pending when its send returned. It does not record the result
//! of a cancel call: `CancelIoEx` says whether a request was found, the simulator's cancel
//! whether a Cancel routine ran, and the request's final status already shows what happened.
//!
//! ```
//! use wdm_e2e_scenario::{Request, Step, STARTIO};
//! assert!(matches!(STARTIO.steps()[0], Step::Open { .. }));
//! assert!(STARTIO.expected().lines().count() > 10);
//! # let _ = Request::Read(1);
//! ```

#![forbid(unsafe_code)]

#[cfg(feature = "sim")]
pub mod sim;

use std::collections::HashMap;
use std::fmt::Write as _;

/// A request a step sends.
///
/// ```
/// let read = wdm_e2e_scenario::Request::Read(16);
/// assert_eq!(read.to_string(), "read 16");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A read of this many bytes.
    Read(usize),
    /// A write of these bytes.
    Write(Vec<u8>),
    /// A device control with a code, an input and an output length.
    Ioctl {
        /// The control code.
        code: u32,
        /// The input bytes.
        input: Vec<u8>,
        /// The output buffer's length.
        output: usize,
    },
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Read(n) => write!(f, "read {n}"),
            Request::Write(data) => write!(f, "write {}", Bytes(data)),
            Request::Ioctl { code, input, output } => {
                write!(f, "ioctl {code:#x} in {} out {output}", Bytes(input))
            }
        }
    }
}

/// One step of a scenario. Handles and requests are named, so later steps can refer to them.
///
/// ```
/// use wdm_e2e_scenario::{Request, Step};
/// let step = Step::Start { id: "w1", handle: "a", request: Request::Write(b"x".to_vec()) };
/// assert!(matches!(step, Step::Start { id: "w1", .. }));
/// ```
#[derive(Clone, Debug)]
pub enum Step {
    /// Opens a device by its user-mode name (`\\.\Name`) as `handle`.
    Open {
        /// The handle's name in later steps.
        handle: &'static str,
        /// The name CreateFile opens.
        path: &'static str,
    },
    /// Closes a handle, whatever requests on it are still pending.
    Close(&'static str),
    /// Sends a request and waits for it.
    Call {
        /// The request's name in the transcript.
        id: &'static str,
        /// The handle it is sent on.
        handle: &'static str,
        /// What is sent.
        request: Request,
    },
    /// Sends a request without waiting (overlapped).
    Start {
        /// The request's name in later steps.
        id: &'static str,
        /// The handle it is sent on.
        handle: &'static str,
        /// What is sent.
        request: Request,
    },
    /// Asks for a started request to be cancelled (CancelIoEx).
    Cancel(&'static str),
    /// Waits for a started request to complete.
    Wait(&'static str),
}

/// How a request ended, as a user-mode caller sees it.
///
/// ```
/// let done = wdm_e2e_scenario::Completion { status: 0, information: 2, data: b"hi".to_vec() };
/// assert_eq!(done.to_string(), "0x00000000 2 \"hi\"");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// `IoStatus.Status`, as its 32 bits.
    pub status: u32,
    /// `IoStatus.Information`.
    pub information: usize,
    /// For a read or a device control: the first `information` bytes of the output buffer.
    pub data: Vec<u8>,
}

impl std::fmt::Display for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#010x} {}", self.status, self.information)?;
        if !self.data.is_empty() {
            write!(f, " {}", Bytes(&self.data))?;
        }
        Ok(())
    }
}

/// Bytes, shown as text when they are printable and as runs of one value otherwise.
struct Bytes<'a>(&'a [u8]);

impl std::fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        if b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
            return write!(f, "{:?}", String::from_utf8_lossy(b));
        }
        let mut runs = String::new();
        let mut i = 0;
        while i < b.len() {
            let n = b[i..].iter().take_while(|&&c| c == b[i]).count();
            let _ = write!(runs, "{}{n}x{:#04x}", if i == 0 { "" } else { "," }, b[i]);
            i += n;
        }
        write!(f, "[{runs}]")
    }
}

/// What sending a request gave back at once.
///
/// ```
/// use wdm_e2e_scenario::{Completion, Started};
/// let s: Started<()> = Started::Done(Completion { status: 0, information: 0, data: vec![] });
/// assert!(matches!(s, Started::Done(_)));
/// ```
pub enum Started<P> {
    /// The send returned STATUS_PENDING: the request is in flight.
    Pending(P),
    /// The request was completed before the send returned.
    Done(Completion),
}

/// One side that carries out scenarios: the Win32 client, or the simulator.
///
/// ```
/// use wdm_e2e_scenario::{Completion, Executor, Request, Started, Step};
/// /// A device that completes everything at once with STATUS_SUCCESS.
/// struct Echo;
/// impl Executor for Echo {
///     type Handle = ();
///     type Pending = ();
///     fn open(&mut self, _: &str) -> Result<(), String> { Ok(()) }
///     fn close(&mut self, _: ()) {}
///     fn start(&mut self, _: &(), r: &Request) -> Started<()> {
///         let data = match r { Request::Read(n) => vec![b'e'; *n], _ => vec![] };
///         Started::Done(Completion { status: 0, information: data.len(), data })
///     }
///     fn cancel(&mut self, _: &()) {}
///     fn wait(&mut self, _: ()) -> Completion { unreachable!("nothing pends") }
/// }
/// let steps = [
///     Step::Open { handle: "a", path: r"\\.\Echo" },
///     Step::Call { id: "r", handle: "a", request: Request::Read(2) },
///     Step::Close("a"),
/// ];
/// assert_eq!(wdm_e2e_scenario::run(&steps, &mut Echo).unwrap(), "open a: ok\nr: read 2 -> 0x00000000 2 \"ee\"\nclose a\n");
/// ```
pub trait Executor {
    /// An open handle.
    type Handle;
    /// A request in flight.
    type Pending;
    /// Opens a device; the error says why it could not be opened.
    fn open(&mut self, path: &str) -> Result<Self::Handle, String>;
    /// Closes a handle (requests on it may still be pending).
    fn close(&mut self, handle: Self::Handle);
    /// Sends a request.
    fn start(&mut self, handle: &Self::Handle, request: &Request) -> Started<Self::Pending>;
    /// Asks for a request in flight to be cancelled.
    fn cancel(&mut self, pending: &Self::Pending);
    /// Waits for a request in flight (up to ten seconds; a request still pending then is a
    /// failure the executor reports as it can, for example with a status of `u32::MAX`).
    fn wait(&mut self, pending: Self::Pending) -> Completion;
}

/// Runs a scenario and returns its transcript, one line per step; Err names a step that
/// refers to a handle or request that does not exist (a bug in the scenario, not the driver).
///
/// ```
/// # use wdm_e2e_scenario::*;
/// # struct Never;
/// # impl Executor for Never {
/// #     type Handle = (); type Pending = ();
/// #     fn open(&mut self, _: &str) -> Result<(), String> { Err("no such device".into()) }
/// #     fn close(&mut self, _: ()) {}
/// #     fn start(&mut self, _: &(), _: &Request) -> Started<()> { unreachable!() }
/// #     fn cancel(&mut self, _: &()) {}
/// #     fn wait(&mut self, _: ()) -> Completion { unreachable!() }
/// # }
/// let transcript = run(&[Step::Open { handle: "a", path: r"\\.\Missing" }], &mut Never).unwrap();
/// assert_eq!(transcript, "open a: failed\n");
/// assert!(run(&[Step::Close("b")], &mut Never).is_err());
/// ```
pub fn run<E: Executor>(steps: &[Step], executor: &mut E) -> Result<String, String> {
    run_with(steps, executor, |_| {})
}

/// [`run`], handing each transcript line to `on_line` as soon as its step is done (so a run
/// that hangs shows how far it got).
///
/// ```
/// # use wdm_e2e_scenario::*;
/// # struct Never;
/// # impl Executor for Never {
/// #     type Handle = (); type Pending = ();
/// #     fn open(&mut self, _: &str) -> Result<(), String> { Err("no such device".into()) }
/// #     fn close(&mut self, _: ()) {}
/// #     fn start(&mut self, _: &(), _: &Request) -> Started<()> { unreachable!() }
/// #     fn cancel(&mut self, _: &()) {}
/// #     fn wait(&mut self, _: ()) -> Completion { unreachable!() }
/// # }
/// let mut seen = Vec::new();
/// run_with(&[Step::Open { handle: "a", path: r"\\.\X" }], &mut Never, |l| seen.push(l.to_owned())).unwrap();
/// assert_eq!(seen, ["open a: failed"]);
/// ```
pub fn run_with<E: Executor>(
    steps: &[Step],
    executor: &mut E,
    mut on_line: impl FnMut(&str),
) -> Result<String, String> {
    let mut handles = HashMap::new();
    // Each request in flight with the handle it was sent on (a cancel needs that handle open).
    let mut pending: HashMap<&str, (E::Pending, &str)> = HashMap::new();
    let mut done = HashMap::new();
    let mut out = String::new();
    for step in steps {
        let before = out.len();
        match step {
            Step::Open { handle, path } => match executor.open(path) {
                Ok(h) => {
                    if handles.insert(*handle, h).is_some() {
                        return Err(format!("open {handle}: a handle of that name is already open"));
                    }
                    let _ = writeln!(out, "open {handle}: ok");
                }
                Err(_) => {
                    let _ = writeln!(out, "open {handle}: failed");
                }
            },
            Step::Close(handle) => {
                let h = handles
                    .remove(handle)
                    .ok_or(format!("close of unknown handle {handle}"))?;
                executor.close(h);
                let _ = writeln!(out, "close {handle}");
            }
            Step::Call { id, handle, request } => {
                let h = handles.get(handle).ok_or(format!("{id}: unknown handle {handle}"))?;
                let completion = match executor.start(h, request) {
                    Started::Pending(p) => executor.wait(p),
                    Started::Done(c) => c,
                };
                let _ = writeln!(out, "{id}: {request} -> {completion}");
            }
            Step::Start { id, handle, request } => {
                let h = handles.get(handle).ok_or(format!("{id}: unknown handle {handle}"))?;
                if pending.contains_key(id) || done.contains_key(id) {
                    return Err(format!("{id}: a request of that name is already in flight"));
                }
                match executor.start(h, request) {
                    Started::Pending(p) => {
                        pending.insert(*id, (p, *handle));
                        let _ = writeln!(out, "{id}: {request} -> pending");
                    }
                    Started::Done(c) => {
                        let _ = writeln!(out, "{id}: {request} -> completed at once");
                        done.insert(*id, c);
                    }
                }
            }
            Step::Cancel(id) => {
                if let Some((p, handle)) = pending.get(id) {
                    if !handles.contains_key(handle) {
                        return Err(format!(
                            "cancel {id}: its handle {handle} is closed (CancelIoEx needs it)"
                        ));
                    }
                    executor.cancel(p);
                } else if !done.contains_key(id) {
                    return Err(format!("cancel of unknown request {id}"));
                }
                let _ = writeln!(out, "cancel {id}");
            }
            Step::Wait(id) => {
                let completion = match (pending.remove(id), done.remove(id)) {
                    (Some((p, _)), _) => executor.wait(p),
                    (None, Some(c)) => c,
                    (None, None) => return Err(format!("wait for unknown request {id}")),
                };
                let _ = writeln!(out, "wait {id}: {completion}");
            }
        }
        on_line(out[before..].trim_end());
    }
    Ok(out)
}

/// A named scenario with the transcript a correct driver and I/O manager produce.
///
/// ```
/// let s = wdm_e2e_scenario::STARTIO;
/// assert_eq!(s.name(), "startio");
/// ```
#[derive(Clone, Copy)]
pub struct Scenario {
    name: &'static str,
    steps: fn() -> Vec<Step>,
    expected: &'static str,
}

impl Scenario {
    /// The sample it exercises.
    ///
    /// ```
    /// assert_eq!(wdm_e2e_scenario::STARTIO.name(), "startio");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its steps.
    ///
    /// ```
    /// assert!(!wdm_e2e_scenario::STARTIO.steps().is_empty());
    /// ```
    pub fn steps(&self) -> Vec<Step> {
        (self.steps)()
    }

    /// The transcript it must produce (`expected/<name>.txt`).
    ///
    /// ```
    /// assert!(wdm_e2e_scenario::STARTIO.expected().starts_with("open a: ok"));
    /// ```
    pub fn expected(&self) -> &'static str {
        self.expected
    }

    /// Runs it and compares the transcript with the expected one: Ok(transcript), or Err with
    /// the transcript and the first line that differs.
    ///
    /// ```
    /// # use wdm_e2e_scenario::*;
    /// # struct Never;
    /// # impl Executor for Never {
    /// #     type Handle = (); type Pending = ();
    /// #     fn open(&mut self, _: &str) -> Result<(), String> { Err("no such device".into()) }
    /// #     fn close(&mut self, _: ()) {}
    /// #     fn start(&mut self, _: &(), _: &Request) -> Started<()> { unreachable!() }
    /// #     fn cancel(&mut self, _: &()) {}
    /// #     fn wait(&mut self, _: ()) -> Completion { unreachable!() }
    /// # }
    /// // The device does not open, so the first line differs (and the steps after it cannot run).
    /// assert!(STARTIO.check(&mut Never).is_err());
    /// ```
    pub fn check<E: Executor>(&self, executor: &mut E) -> Result<String, String> {
        let transcript = run(&self.steps(), executor)?;
        match first_difference(self.expected, &transcript) {
            None => Ok(transcript),
            Some(diff) => Err(format!("{transcript}{}: {diff}", self.name)),
        }
    }
}

/// The first line where two transcripts differ, described; None when they are the same.
///
/// ```
/// use wdm_e2e_scenario::first_difference;
/// assert_eq!(first_difference("a\nb\n", "a\nb\n"), None);
/// assert_eq!(
///     first_difference("a\nb\n", "a\nc\n").unwrap(),
///     "line 2 differs: expected `b`, got `c`"
/// );
/// ```
pub fn first_difference(expected: &str, got: &str) -> Option<String> {
    let mut e = expected.lines();
    let mut g = got.lines();
    for line in 1.. {
        match (e.next(), g.next()) {
            (None, None) => return None,
            (Some(a), Some(b)) if a == b => {}
            (a, b) => {
                return Some(format!(
                    "line {line} differs: expected `{}`, got `{}`",
                    a.unwrap_or("<end>"),
                    b.unwrap_or("<end>")
                ));
            }
        }
    }
    unreachable!("the loop returns")
}

/// The startio sample (`samples/startio`, a 4 KiB data register behind StartIo with 10 µs per
/// byte of simulated hardware latency): order, cancellation of a queued request and of the
/// request in progress, bad input, and a close with requests still queued.
///
/// ```
/// assert!(wdm_e2e_scenario::STARTIO.expected().contains("wait big: 0xc0000120 0"));
/// ```
pub const STARTIO: Scenario = Scenario {
    name: "startio",
    steps: startio_steps,
    expected: include_str!("../expected/startio.txt"),
};

/// Every scenario, by sample name.
///
/// ```
/// assert!(wdm_e2e_scenario::by_name("startio").is_some());
/// assert!(wdm_e2e_scenario::by_name("nothing").is_none());
/// ```
pub fn by_name(name: &str) -> Option<Scenario> {
    ALL.iter().copied().find(|s| s.name == name)
}

/// Every scenario.
///
/// ```
/// assert!(wdm_e2e_scenario::ALL.iter().any(|s| s.name() == "startio"));
/// ```
pub const ALL: &[Scenario] = &[STARTIO];

fn startio_steps() -> Vec<Step> {
    use Request::{Ioctl, Read, Write};
    let call = |id, handle, request| Step::Call { id, handle, request };
    let start = |id, handle, request| Step::Start { id, handle, request };
    vec![
        Step::Open {
            handle: "a",
            path: r"\\.\StartIo",
        },
        // One at a time: a write, then a read returns it.
        call("w0", "a", Write(b"hello".to_vec())),
        call("r0", "a", Read(16)),
        // Overlapped: every request is queued at once; each read sees the write before it.
        start("w1", "a", Write(b"first".to_vec())),
        start("r1", "a", Read(16)),
        start("w2", "a", Write(b"second".to_vec())),
        start("r2", "a", Read(16)),
        start("w3", "a", Write(b"third!".to_vec())),
        start("r3", "a", Read(3)),
        Step::Wait("w1"),
        Step::Wait("r1"),
        Step::Wait("w2"),
        Step::Wait("r2"),
        Step::Wait("w3"),
        Step::Wait("r3"),
        // Cancellation: a long write is in progress (about 41 ms), a read and a write wait in
        // the device queue. Cancelling the queued read takes it out of the queue; cancelling
        // the write in progress sets its Cancel flag, which the hardware DPC sees; the queued
        // write behind them goes ahead.
        start("big", "a", Write(vec![7; 4096])),
        start("q1", "a", Read(8)),
        start("q2", "a", Write(b"after".to_vec())),
        // The write in progress first: it is cancelled well inside its 41 ms even on a slow
        // loader (a cancel after it finished would see it complete with STATUS_SUCCESS).
        Step::Cancel("big"),
        Step::Cancel("q1"),
        Step::Wait("q1"),
        Step::Wait("big"),
        Step::Wait("q2"),
        call("r4", "a", Read(16)),
        // Bad input.
        call("long", "a", Write(vec![1; 4097])),
        call("empty", "a", Read(0)),
        call(
            "ioctl",
            "a",
            Ioctl {
                code: 0x22_2000,
                input: vec![],
                output: 0,
            },
        ),
        // A close with requests still queued: they are carried out (the sample has no cleanup
        // handler; closing a handle cancels nothing by itself), and a new handle reads the last
        // write.
        start("big2", "a", Write(vec![9; 4096])),
        start("c1", "a", Write(b"queued at close".to_vec())),
        start("c2", "a", Read(32)),
        Step::Close("a"),
        Step::Wait("big2"),
        Step::Wait("c1"),
        Step::Wait("c2"),
        Step::Open {
            handle: "b",
            path: r"\\.\StartIo",
        },
        call("r5", "b", Read(32)),
        Step::Close("b"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_shown_as_text_or_runs() {
        assert_eq!(Bytes(b"ab c").to_string(), "\"ab c\"");
        assert_eq!(Bytes(&[7, 7, 7, 0]).to_string(), "[3x0x07,1x0x00]");
        assert_eq!(Bytes(&[]).to_string(), "\"\"");
    }

    #[test]
    fn every_scenario_refers_only_to_what_it_made() {
        struct Dry;
        impl Executor for Dry {
            type Handle = ();
            type Pending = ();
            fn open(&mut self, _: &str) -> Result<(), String> {
                Ok(())
            }
            fn close(&mut self, _: ()) {}
            fn start(&mut self, _: &(), _: &Request) -> Started<()> {
                Started::Pending(())
            }
            fn cancel(&mut self, _: &()) {}
            fn wait(&mut self, _: ()) -> Completion {
                Completion {
                    status: 0,
                    information: 0,
                    data: vec![],
                }
            }
        }
        for s in ALL {
            let t = run(&s.steps(), &mut Dry).unwrap();
            assert_eq!(t.lines().count(), s.expected().lines().count(), "{}", s.name());
        }
    }
}
