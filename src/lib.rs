//! mailtls: blocking POP3 and SMTP submission clients over verified TLS,
//! with a C ABI (see `include/mailtls.h`).
//!
//! The protocol core (`transport`, `sasl`, `pop3`) is plain Rust; `ffi` is
//! the C layer over it.

pub mod capabilities;
pub mod error;
pub mod options;
pub mod pop3;
pub mod sasl;
pub mod smtp;
pub mod trace;
pub mod transport;

pub mod ffi;
#[doc(hidden)]
pub mod fuzzing;

pub use error::{Error, Result, ServerReply};
pub use options::{ClientOptions, Security, TlsOptions, TlsVersion};
