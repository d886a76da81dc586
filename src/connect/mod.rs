//! How both faces reach the server, one job a file: the driver's settings
//! that are not TLS (`settings`), libpq's `sslmode` negotiation as the
//! connector the driver calls (`negotiate`), rustls (`tls`), and the
//! blocking face's per-statement deadline on its stream (`deadline`).

mod deadline;
mod negotiate;
mod settings;
#[cfg(feature = "tls")]
mod tls;

pub(crate) use deadline::Deadline;
#[cfg(feature = "blocking")]
pub(crate) use deadline::{begin_attempt, end_attempt};
pub(crate) use negotiate::Tls;
#[cfg(feature = "blocking")]
pub(crate) use negotiate::with_deadlines;
pub(crate) use settings::driver;
