//! mailtls: blocking POP3 and SMTP submission clients over verified TLS,
//! with a C ABI (see `include/mailtls.h`).
//!
//! Layers, each using only the ones below it: `ffi` (the C API) →
//! `pop3`, `smtp` → `session` (what both protocols share) → `transport`
//! (TCP, TLS, lines) → `options`, `sasl`, `capabilities`, `trace`,
//! `durable` → `error` → `reply`, `fingerprint`, `certificate`.

pub mod capabilities;
pub mod certificate;
mod durable;
pub mod error;
pub mod fingerprint;
pub mod options;
pub mod pop3;
pub mod probe;
pub mod reply;
pub mod sasl;
pub mod session;
pub mod smtp;
pub mod sync;
pub mod trace;
pub mod transport;

pub mod ffi;
#[doc(hidden)]
pub mod fuzzing;

pub use certificate::Certificate;
pub use error::{CertificateError, CertificateReason, Error, Result};
pub use options::{
    CertificateCallback, CertificateDecision, ClientName, ClientOptions, Proxy, ProxyCredentials, ProxyKind, Security,
    TlsOptions, TlsVersion,
};
pub use probe::{ProbeOptions, ProbeReport, probe};
pub use reply::ServerReply;
pub use session::Client;
