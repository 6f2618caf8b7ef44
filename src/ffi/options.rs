//! `mailtls_options`: connection settings, copied into each handle created
//! from them.

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use super::arguments::{arg_slice, arg_str};
use super::certificate::mailtls_certificate;
use super::detail::{ErrorDetail, Failure, FfiResult};
use super::handle::{Guarded, HandleState, c_handle, copy_detail, free_handle, new_handle, with_handle};
use super::result::{certificate_result, mailtls_result};
use crate::error::Error;
use crate::options::{CertificateCallback, CertificateDecision, ClientOptions, Security, TlsVersion};
use crate::sasl::Mechanism;
use crate::trace::{TraceKind, Tracer};

/// Connection options: security mode, TLS settings, timeouts, allowed
/// mechanisms, trace callback. Create with mailtls_options_new(), free with
/// mailtls_options_free(). A handle created from the options copies them,
/// so the options may be changed or freed afterwards.
pub struct mailtls_options(Guarded<OptionsState>);

pub(crate) struct OptionsState {
    pub(crate) inner: ClientOptions,
    detail: ErrorDetail,
}

impl HandleState for OptionsState {
    fn detail(&mut self) -> &mut ErrorDetail {
        &mut self.detail
    }
    fn detail_ref(&self) -> &ErrorDetail {
        &self.detail
    }
}

c_handle!(mailtls_options, OptionsState);

/// How the connection is secured: one of the MAILTLS_SECURITY_* constants.
/// Nothing ever falls back to a weaker mode.
pub type mailtls_security = u32;

/// Default. The "server requires a secure connection" checkbox: implicit
/// TLS on port 995 (POP3) or 465 (SMTP), required STARTTLS/STLS on any
/// other port.
pub const MAILTLS_SECURITY_AUTO: mailtls_security = 0;
/// Implicit TLS from the first byte.
pub const MAILTLS_SECURITY_TLS: mailtls_security = 1;
/// Plain connection upgraded with STLS/STARTTLS; fails with
/// MAILTLS_RESULT_STARTTLS_UNAVAILABLE if the server does not offer it.
pub const MAILTLS_SECURITY_STARTTLS: mailtls_security = 2;
/// No encryption. Credentials are still refused unless
/// mailtls_options_set_allow_plaintext_auth() allows them.
pub const MAILTLS_SECURITY_NONE: mailtls_security = 3;

/// The oldest TLS version accepted: one of the MAILTLS_TLS_* constants.
pub type mailtls_tls_version = u32;

/// TLS 1.2 or newer (the default).
pub const MAILTLS_TLS_1_2: mailtls_tls_version = 0;
/// TLS 1.3 only.
pub const MAILTLS_TLS_1_3: mailtls_tls_version = 1;

/// What a trace callback is shown: one of the MAILTLS_TRACE_* constants.
pub type mailtls_trace_kind = u32;

/// A note from the library (connecting, TLS established, mechanism).
pub const MAILTLS_TRACE_INFO: mailtls_trace_kind = 0;
/// A command line sent, without CRLF; secrets replaced by "<redacted>".
pub const MAILTLS_TRACE_COMMAND: mailtls_trace_kind = 1;
/// A status or continuation line received, without CRLF.
pub const MAILTLS_TRACE_REPLY: mailtls_trace_kind = 2;

/// A trace callback: `data` holds `len` bytes, not NUL-terminated, valid
/// only during the call. Passwords, tokens and AUTH payloads are replaced by
/// "<redacted>" before the callback sees them. It is called on the thread
/// that called into the library and must not call back into the same
/// handle.
pub type mailtls_trace_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, kind: mailtls_trace_kind, data: *const u8, len: usize)>;

/// Create options with the defaults: security AUTO, TLS 1.2 minimum,
/// certificates verified against the system store, connect timeout 30 s,
/// I/O timeout 60 s, all mechanisms allowed, plaintext authentication
/// refused, in-memory message limit 256 MiB, no trace. Returns NULL only
/// if memory is exhausted. Free with mailtls_options_free().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_new() -> *mut mailtls_options {
    new_handle(|| Some(OptionsState { inner: ClientOptions::default(), detail: ErrorDetail::default() }))
}

/// Free options created by mailtls_options_new(). NULL is ignored. Must not
/// be called twice.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_free(options: *mut mailtls_options) {
    free_handle(options)
}

pub(super) fn set(options: *mut mailtls_options, f: impl FnOnce(&mut ClientOptions) -> FfiResult) -> mailtls_result {
    with_handle(options, |o| f(&mut o.inner))
}

fn invalid(msg: &str) -> Failure {
    Failure::Core(Error::InvalidArgument(msg.into()))
}

/// Set the security mode (MAILTLS_SECURITY_*). Returns
/// MAILTLS_RESULT_INVALID_ARGUMENT for any other number.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_set_security(
    options: *mut mailtls_options,
    security: mailtls_security,
) -> mailtls_result {
    set(options, |o| {
        o.security = match security {
            MAILTLS_SECURITY_AUTO => Security::Auto,
            MAILTLS_SECURITY_TLS => Security::Tls,
            MAILTLS_SECURITY_STARTTLS => Security::StartTls,
            MAILTLS_SECURITY_NONE => Security::None,
            _ => return Err(invalid("unknown security mode")),
        };
        Ok(())
    })
}

/// Set the oldest TLS version accepted (MAILTLS_TLS_*).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_set_min_tls_version(
    options: *mut mailtls_options,
    version: mailtls_tls_version,
) -> mailtls_result {
    set(options, |o| {
        o.tls.min_version = match version {
            MAILTLS_TLS_1_2 => TlsVersion::Tls12,
            MAILTLS_TLS_1_3 => TlsVersion::Tls13,
            _ => return Err(invalid("unknown TLS version")),
        };
        Ok(())
    })
}

/// Trust the CA certificates of a PEM file, in addition to the system
/// store (Windows: the system certificate store; macOS: the keychains;
/// Linux and other OpenSSL systems: OpenSSL's locations, SSL_CERT_FILE and
/// SSL_CERT_DIR if set, else the compiled-in defaults, read by the first
/// connection of the process). `path` is UTF-8. The file is read now.
/// Returns MAILTLS_RESULT_INVALID_ARGUMENT if it cannot be read or holds no
/// certificate.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_add_ca_file(options: *mut mailtls_options, path: *const c_char) -> mailtls_result {
    set(options, |o| {
        // SAFETY: a NUL-terminated string or NULL.
        let path = unsafe { arg_str(path, "path") }?;
        Ok(o.tls.add_ca_file(std::path::Path::new(path))?)
    })
}

/// Trust the CA certificates in `len` bytes of PEM text at `pem` (copied).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_add_ca_pem(
    options: *mut mailtls_options,
    pem: *const u8,
    len: usize,
) -> mailtls_result {
    set(options, |o| {
        // SAFETY: `len` readable bytes.
        let pem = unsafe { arg_slice(pem, len, "pem") }?;
        Ok(o.tls.add_ca_pem(pem)?)
    })
}

/// Pin the server certificate by the SHA-256 of its DER encoding: 64 hex
/// digits, colons allowed, any case. The pinned certificate is accepted
/// whoever signed it and whatever names it carries (for a self-signed
/// certificate the user approved); any other certificate is refused with
/// MAILTLS_RESULT_CERTIFICATE_PIN_MISMATCH. NULL removes the pin.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_set_pin_sha256(options: *mut mailtls_options, hex: *const c_char) -> mailtls_result {
    set(options, |o| {
        if hex.is_null() {
            o.tls.pin_sha256 = None;
            return Ok(());
        }
        // SAFETY: a NUL-terminated string.
        let hex = unsafe { arg_str(hex, "hex") }?;
        Ok(o.tls.set_pin_sha256_hex(hex)?)
    })
}

/// DANGEROUS: accept any server certificate, even expired, self-signed or
/// for another host. Anyone on the network path can then read the
/// password. Prefer mailtls_options_add_ca_file() or
/// mailtls_options_set_pin_sha256().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_set_danger_accept_invalid_certs(
    options: *mut mailtls_options,
    accept: bool,
) -> mailtls_result {
    set(options, |o| {
        o.tls.danger_accept_invalid_certs = accept;
        Ok(())
    })
}

/// Set how long each connection attempt (per resolved address) may take, in
/// milliseconds (at least 1).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_set_connect_timeout_ms(options: *mut mailtls_options, ms: u32) -> mailtls_result {
    set(options, |o| {
        if ms == 0 {
            return Err(invalid("a timeout must be at least 1 ms"));
        }
        o.connect_timeout = Duration::from_millis(ms.into());
        Ok(())
    })
}

/// Set how long to wait for the server on each read or write, in
/// milliseconds (at least 1). A server that stalls longer gives
/// MAILTLS_RESULT_TIMEOUT.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_set_io_timeout_ms(options: *mut mailtls_options, ms: u32) -> mailtls_result {
    set(options, |o| {
        if ms == 0 {
            return Err(invalid("a timeout must be at least 1 ms"));
        }
        o.io_timeout = Duration::from_millis(ms.into());
        Ok(())
    })
}

/// Restrict the mechanisms the automatic choice of a login may use: a list
/// of names separated by spaces or commas, from USER, APOP, PLAIN, LOGIN,
/// CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-1-PLUS, SCRAM-SHA-256,
/// SCRAM-SHA-256-PLUS, XOAUTH2, OAUTHBEARER (any case). NULL or "" allows
/// all.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_set_mechanisms(options: *mut mailtls_options, list: *const c_char) -> mailtls_result {
    set(options, |o| {
        if list.is_null() {
            o.allowed_mechanisms = None;
            return Ok(());
        }
        // SAFETY: a NUL-terminated string.
        let list = unsafe { arg_str(list, "list") }?;
        let parsed = Mechanism::parse_list(list)?;
        o.allowed_mechanisms = if parsed.is_empty() { None } else { Some(parsed) };
        Ok(())
    })
}

/// Allow credentials on a connection without TLS (security NONE). Off by
/// default, when login functions return
/// MAILTLS_RESULT_PLAINTEXT_AUTH_REFUSED without sending anything.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_set_allow_plaintext_auth(
    options: *mut mailtls_options,
    allow: bool,
) -> mailtls_result {
    set(options, |o| {
        o.allow_plaintext_auth = allow;
        Ok(())
    })
}

/// Ask for UTF-8 mode (POP3 UTF8, RFC 6856) when the server offers it.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_set_utf8(options: *mut mailtls_options, enable: bool) -> mailtls_result {
    set(options, |o| {
        o.utf8 = enable;
        Ok(())
    })
}

/// Set the largest message the whole-message functions (e.g.
/// mailtls_pop3_retr_bytes()) hold in memory; larger ones fail with
/// MAILTLS_RESULT_MESSAGE_TOO_LARGE. Streaming and file functions have no
/// limit.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_set_max_message_bytes(options: *mut mailtls_options, max: u64) -> mailtls_result {
    set(options, |o| {
        o.max_message_bytes = max;
        Ok(())
    })
}

/// Set the name this host gives in SMTP's EHLO (a domain name or an
/// address literal such as "[192.0.2.1]"). NULL restores the default: this
/// host's name when it is a valid domain, else "localhost".
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_set_client_name(
    options: *mut mailtls_options,
    name: *const c_char,
) -> mailtls_result {
    set(options, |o| {
        if name.is_null() {
            o.client_name = None;
            return Ok(());
        }
        // SAFETY: a NUL-terminated string.
        let name = unsafe { arg_str(name, "name") }?;
        o.client_name = Some(crate::options::ClientName::new(name)?);
        Ok(())
    })
}

struct TraceTarget {
    callback: unsafe extern "C" fn(*mut c_void, mailtls_trace_kind, *const u8, usize),
    userdata: *mut c_void,
}
// SAFETY: the header tells the caller that the callback runs on whichever
// thread uses the handle; making that safe is the caller's contract.
unsafe impl Send for TraceTarget {}
// SAFETY: as above: the header says the callback may run on any thread that
// uses a handle made from these options, at the same time on several.
unsafe impl Sync for TraceTarget {}

/// Set (or with a NULL callback, remove) the trace callback and its
/// userdata, passed back as the first argument. See mailtls_trace_callback.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_set_trace(
    options: *mut mailtls_options,
    callback: mailtls_trace_callback,
    userdata: *mut c_void,
) -> mailtls_result {
    set(options, |o| {
        o.tracer = match callback {
            None => Tracer::default(),
            Some(callback) => {
                let target = TraceTarget { callback, userdata };
                Tracer::new(Arc::new(move |kind, data: &[u8]| {
                    let target = &target; // capture the whole Send + Sync wrapper
                    let kind = match kind {
                        TraceKind::Info => MAILTLS_TRACE_INFO,
                        TraceKind::Command => MAILTLS_TRACE_COMMAND,
                        TraceKind::Reply => MAILTLS_TRACE_REPLY,
                    };
                    // SAFETY: the caller's callback, with its own userdata.
                    unsafe { (target.callback)(target.userdata, kind, data.as_ptr(), data.len()) }
                }))
            }
        };
        Ok(())
    })
}

/// What a certificate callback decides: one of the MAILTLS_CERTIFICATE_*
/// constants.
pub type mailtls_certificate_decision = u32;

/// Fail the connect with the certificate's result (a CERTIFICATE_* code);
/// no credential or other command is sent.
pub const MAILTLS_CERTIFICATE_REFUSE: mailtls_certificate_decision = 0;
/// Trust exactly this certificate for this connection only: the connect
/// goes on, and nothing is stored (to trust it next time, pass
/// mailtls_certificate_sha256() to mailtls_options_set_pin_sha256()).
pub const MAILTLS_CERTIFICATE_ACCEPT_ONCE: mailtls_certificate_decision = 1;

/// A certificate callback: asked when the server's certificate fails
/// verification, during the connect, after the TLS handshake (and for
/// STARTTLS the greeting, capabilities and STLS/STARTTLS) and before
/// anything else is sent, in particular before any credential. `cert` is
/// the server's certificate (its facts through the mailtls_certificate_*
/// accessors), valid only during the call; `reason` is the result the
/// connect fails with if the callback refuses (a CERTIFICATE_* code other
/// than PIN_MISMATCH). Return MAILTLS_CERTIFICATE_ACCEPT_ONCE to go on;
/// any other value refuses. It is never called for a certificate that
/// verified, for a pinned one (a pin mismatch is refused outright), with
/// danger_accept_invalid_certs, for TLS failures other than the
/// certificate's, nor when the certificate cannot be read. It is called on
/// the thread that called the connect function and must not call into the
/// same handle (that call returns MAILTLS_RESULT_HANDLE_BUSY); it may
/// block (show a dialog) while the server waits, up to the server's own
/// patience. With the native-tls backend (Windows, macOS), which keeps
/// nothing of a refused handshake, the connect first reads the
/// certificate on a second connection that stops after the handshake
/// (for STARTTLS, after the greeting, capabilities and STLS/STARTTLS
/// again); accepted, a third connection pins exactly that certificate and
/// the session goes on over it.
pub type mailtls_certificate_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        cert: *const mailtls_certificate,
        reason: mailtls_result,
    ) -> mailtls_certificate_decision,
>;

struct CertificateTarget {
    callback: unsafe extern "C" fn(*mut c_void, *const mailtls_certificate, mailtls_result) -> u32,
    userdata: *mut c_void,
}
// SAFETY: the header says the callback runs on the thread that connects,
// whichever that is; making that safe is the caller's contract.
unsafe impl Send for CertificateTarget {}
// SAFETY: as above: handles made from the same options may connect on
// several threads at once.
unsafe impl Sync for CertificateTarget {}

/// Set (or with a NULL callback, remove) the certificate callback and its
/// userdata, passed back as the first argument. See
/// mailtls_certificate_callback.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_set_certificate_callback(
    options: *mut mailtls_options,
    callback: mailtls_certificate_callback,
    userdata: *mut c_void,
) -> mailtls_result {
    set(options, |o| {
        o.certificate_callback = callback.map(|callback| {
            let target = CertificateTarget { callback, userdata };
            CertificateCallback::new(move |cert, reason| {
                let target = &target; // capture the whole Send + Sync wrapper
                let reason = certificate_result(reason);
                let facts = mailtls_certificate::new(cert, reason);
                // SAFETY: the caller's callback, with its own userdata and a
                // certificate that lives until it returns.
                let decision = unsafe { (target.callback)(target.userdata, &facts, reason) };
                if decision == MAILTLS_CERTIFICATE_ACCEPT_ONCE {
                    CertificateDecision::AcceptOnce
                } else {
                    CertificateDecision::Refuse
                }
            })
        });
        Ok(())
    })
}

/// Copy the message of the last failed call on these options into `buf`
/// (see mailtls_pop3_last_error() for the buffer rules).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_options_last_error(
    options: *const mailtls_options,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    copy_detail(options, ErrorDetail::message, buf, buf_len, len_out)
}
