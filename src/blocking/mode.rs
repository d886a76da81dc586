//! The kind of Rust this face compiles `src/io/` as (blocking): the `face`
//! attribute that the shared files put on their `impl` blocks and traits.

pub(super) use maybe_async::must_be_sync as face;
