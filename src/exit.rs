//! Exit codes: the one place that says what each process exit status means.

/// Every exit status sessioncast uses; documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done.
    Ok = 0,
    /// A runtime error: I/O, network set-up, an internal failure.
    Runtime = 1,
    /// The command line was wrong (clap's own code).
    Usage = 2,
    /// The campaign file or its data is invalid; nothing was sent.
    Invalid = 3,
    /// The run finished, but some deliveries failed or their outcome is unknown.
    Incomplete = 4,
    /// The run stopped early (signal, deadline, stop-class provider error) with work left.
    Stopped = 5,
    /// Another run holds this campaign's lock.
    Locked = 6,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}
