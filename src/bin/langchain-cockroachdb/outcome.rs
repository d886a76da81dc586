//! How a command ends: an `Outcome` (done, warnings, failed, stopped by
//! Ctrl-C) or a `Failure` (an error of the crate, a refusal of ours);
//! `main` turns either into the exit status.

use langchain_cockroachdb::Error;

/// How a command ended, as the exit status says it.
pub(crate) enum Outcome {
    Done,
    Warnings,
    Failed,
    Stopped,
}

impl Outcome {
    /// Done, or stopped by Ctrl-C on the way.
    pub(crate) fn of(stopped: bool) -> Outcome {
        match stopped {
            true => Outcome::Stopped,
            false => Outcome::Done,
        }
    }
}

/// What stops a command: an error of the crate, or a refusal of ours.
pub(crate) enum Failure {
    Crate(Error),
    Refused(String),
}

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        Failure::Crate(err)
    }
}

impl From<std::io::Error> for Failure {
    fn from(err: std::io::Error) -> Failure {
        Failure::Crate(Error::Io(err))
    }
}

pub(crate) type Done = Result<Outcome, Failure>;
