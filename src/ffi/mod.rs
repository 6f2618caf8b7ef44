//! The C API: opaque handles over the Rust core. Every `extern "C"` function
//! of the library lives in this module's files, one per handle type, with
//! the shared plumbing in its own files: `guard` (no panic crosses the
//! boundary), `handle` (one call at a time per handle, the failure detail),
//! `arguments` (C strings, arrays, output pointers), `detail` (failures and
//! the text copy rules), `result` (the result codes).
//!
//! Conventions (see ../shared/STYLE.md): the handle is the first argument,
//! outputs come last as `*_out` and are written only on success (unless a
//! function's documentation names a result on which it writes them too),
//! inputs are copied before the call returns, and every entry point runs in
//! the panic guard.

#![allow(non_camel_case_types)]
// C callers cannot see `unsafe` on a signature: the pointer contracts are
// in each function's documentation instead, as in rustls-ffi.
#![allow(clippy::not_unsafe_ptr_arg_deref)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub(crate) mod arguments;
pub mod buffer;
pub mod capabilities;
pub mod certificate;
pub(crate) mod detail;
pub(crate) mod guard;
pub(crate) mod handle;
pub mod listing;
pub mod options;
pub mod pop3;
pub mod probe;
pub mod proxy;
pub mod result;
mod session;
pub mod smtp;
pub mod smtp_results;
pub mod sync;
pub mod version;

pub use result::*;
