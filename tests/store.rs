//! The store traits on every store: a table of the database through the
//! blocking and the async face, and the in-memory store through its
//! blocking and its async traits, each running the cases of
//! `support/store_cases.rs`. So the in-memory store that application tests
//! use is held to what the table does.

mod support;

#[deny(dead_code)]
#[path = "support/store_cases.rs"]
mod store_cases;

store_tests!(memory, crate::support::stores::memory);
store_tests!(memory_async, crate::support::stores::memory_async);
#[cfg(feature = "blocking")]
store_tests!(blocking, crate::support::stores::blocking);
#[cfg(feature = "async")]
store_tests!(nonblocking, crate::support::stores::nonblocking);
