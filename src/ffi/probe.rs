//! `mailtls_probe`: the account probe (see `crate::probe`) as a C handle.
//! Set it up, run it once or more, then read each combination's outcome
//! through accessors by index; what they return is borrowed from the
//! handle until its next run or its free.

use std::ffi::{CString, c_char};
use std::time::Duration;

use super::arguments::{arg_optional_str, arg_str, out};
use super::certificate::mailtls_certificate;
use super::detail::{ErrorDetail, Failure, FfiResult, to_cstring};
use super::guard::{guard, guard_or};
use super::handle::{Guarded, HandleState, c_handle, copy_detail, free_handle, new_handle, read_handle, with_handle};
use super::options::{MAILTLS_SECURITY_STARTTLS, MAILTLS_SECURITY_TLS, mailtls_options, mailtls_security};
use super::result::{MAILTLS_RESULT_OK, mailtls_result, result_of};
use crate::error::Error;
use crate::options::Security;
use crate::probe::{Attempt, Endpoint, Login, ProbeOptions, ProbeReport, Protocol};

/// A mail protocol: one of the MAILTLS_PROTOCOL_* constants, which are
/// also bits (mailtls_probe_set_protocols() takes them OR-ed together).
pub type mailtls_protocol = u32;

/// POP3 (standard probe ports: 995 with TLS, 110 with STLS).
pub const MAILTLS_PROTOCOL_POP3: mailtls_protocol = 1;
/// SMTP submission (standard probe ports: 465 with TLS, 587, 26 and 25
/// with STARTTLS).
pub const MAILTLS_PROTOCOL_SMTP: mailtls_protocol = 2;

/// How the login went on one combination: one of the MAILTLS_PROBE_LOGIN_*
/// constants.
pub type mailtls_probe_login = u32;

/// No user name and password were given to mailtls_probe_run().
pub const MAILTLS_PROBE_LOGIN_NOT_ASKED: mailtls_probe_login = 0;
/// Not tried because the combination failed: no password was sent.
pub const MAILTLS_PROBE_LOGIN_NOT_TRIED: mailtls_probe_login = 1;
/// The server accepted the user name and password.
pub const MAILTLS_PROBE_LOGIN_SUCCEEDED: mailtls_probe_login = 2;
/// The login failed: mailtls_probe_attempt_login_result() and
/// mailtls_probe_attempt_login_message() say why.
pub const MAILTLS_PROBE_LOGIN_FAILED: mailtls_probe_login = 3;

/// An account probe: tries a host's standard POP3 and SMTP ports and
/// security modes in parallel and tells what works. Create with
/// mailtls_probe_new(), run with mailtls_probe_run(), read the outcome with
/// the mailtls_probe_attempt_*() accessors and mailtls_probe_recommended(),
/// free with mailtls_probe_free(). One call at a time per handle (another
/// thread's concurrent call gets MAILTLS_RESULT_HANDLE_BUSY); different
/// handles are independent.
pub struct mailtls_probe(Guarded<ProbeState>);

pub(crate) struct ProbeState {
    options: ProbeOptions,
    attempts: Vec<CAttempt>,
    recommended: [Option<usize>; 2],
    detail: ErrorDetail,
}

impl HandleState for ProbeState {
    fn detail(&mut self) -> &mut ErrorDetail {
        &mut self.detail
    }
    fn detail_ref(&self) -> &ErrorDetail {
        &self.detail
    }
}

c_handle!(mailtls_probe, ProbeState);

/// One combination's outcome, in C's terms.
struct CAttempt {
    protocol: mailtls_protocol,
    port: u16,
    security: mailtls_security,
    result: mailtls_result,
    message: Option<CString>,
    tls_version: Option<CString>,
    mechanisms: CString,
    login: mailtls_probe_login,
    login_result: mailtls_result,
    login_message: Option<CString>,
    certificate: Option<mailtls_certificate>,
}

impl CAttempt {
    fn from(attempt: &Attempt) -> CAttempt {
        let failure = attempt.error.as_ref();
        let (login, login_result, login_message) = match &attempt.login {
            Login::NotAsked => (MAILTLS_PROBE_LOGIN_NOT_ASKED, MAILTLS_RESULT_OK, None),
            Login::NotTried => (MAILTLS_PROBE_LOGIN_NOT_TRIED, MAILTLS_RESULT_OK, None),
            Login::Succeeded => (MAILTLS_PROBE_LOGIN_SUCCEEDED, MAILTLS_RESULT_OK, None),
            Login::Failed(e) => (MAILTLS_PROBE_LOGIN_FAILED, result_of(e), Some(to_cstring(e.to_string()))),
        };
        // A refused certificate tells why it was refused, as on a handle.
        let certificate_result = match failure {
            Some(e @ (Error::Certificate(_) | Error::CertificatePinMismatch { .. })) => result_of(e),
            _ => MAILTLS_RESULT_OK,
        };
        CAttempt {
            protocol: protocol_constant(attempt.endpoint.protocol),
            port: attempt.endpoint.port,
            security: if attempt.endpoint.security == Security::Tls {
                MAILTLS_SECURITY_TLS
            } else {
                MAILTLS_SECURITY_STARTTLS
            },
            result: failure.map_or(MAILTLS_RESULT_OK, result_of),
            message: failure.map(|e| to_cstring(e.to_string())),
            tls_version: attempt.tls_version.clone().map(to_cstring),
            mechanisms: to_cstring(attempt.mechanisms.join(" ")),
            login,
            login_result,
            login_message,
            certificate: attempt.certificate.as_ref().map(|c| mailtls_certificate::new(c, certificate_result)),
        }
    }
}

fn protocol_constant(protocol: Protocol) -> mailtls_protocol {
    match protocol {
        Protocol::Pop3 => MAILTLS_PROTOCOL_POP3,
        Protocol::Smtp => MAILTLS_PROTOCOL_SMTP,
    }
}

fn protocol_of(value: mailtls_protocol) -> FfiResult<Protocol> {
    match value {
        MAILTLS_PROTOCOL_POP3 => Ok(Protocol::Pop3),
        MAILTLS_PROTOCOL_SMTP => Ok(Protocol::Smtp),
        _ => Err(invalid("unknown protocol: use MAILTLS_PROTOCOL_POP3 or MAILTLS_PROTOCOL_SMTP")),
    }
}

fn invalid(message: &str) -> Failure {
    Failure::Core(Error::InvalidArgument(message.into()))
}

/// Create a probe that uses the TLS settings of `options` (trusted CA
/// files and PEM, pin, minimum TLS version) and its proxy set with
/// mailtls_options_set_proxy() or _fields() (every combination is tried
/// through it; the environment's proxy is not read); NULL: the defaults.
/// They are copied:
/// the options may be changed or freed afterwards. Its other settings
/// (security mode, timeouts, trace and certificate callbacks, the danger
/// switch) do not apply: the probe picks the modes itself, has its own
/// timeout (mailtls_probe_set_timeout_ms(), 5 s by default), traces
/// nothing and asks no callback (a certificate that fails verification is
/// reported, never accepted). By default it tries both protocols' standard
/// ports. Returns NULL if memory is exhausted or `options` is in use by a
/// call on another thread. Free with mailtls_probe_free().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_new(options: *const mailtls_options) -> *mut mailtls_probe {
    new_handle(|| {
        let (tls, proxy) = if options.is_null() {
            Default::default()
        } else {
            read_handle(options, |o| (o.inner.tls.clone(), o.inner.proxy.clone()))?
        };
        Some(ProbeState {
            options: ProbeOptions { tls, proxy, ..ProbeOptions::default() },
            attempts: Vec::new(),
            recommended: [None, None],
            detail: ErrorDetail::default(),
        })
    })
}

/// Free the probe and everything its accessors returned. NULL is ignored.
/// Must not be called twice.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_free(probe: *mut mailtls_probe) {
    free_handle(probe)
}

/// How long mailtls_probe_run() may take (about; each connection and each
/// of its reads are bounded by it too). `ms` 0 gives
/// MAILTLS_RESULT_INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_set_timeout_ms(probe: *mut mailtls_probe, ms: u32) -> mailtls_result {
    with_handle(probe, |p| {
        if ms == 0 {
            return Err(invalid("the probe's timeout must be more than zero"));
        }
        p.options.timeout = Duration::from_millis(ms.into());
        Ok(())
    })
}

/// Which protocols' standard ports to try: MAILTLS_PROTOCOL_POP3 and/or
/// MAILTLS_PROTOCOL_SMTP, OR-ed. Ignored once mailtls_probe_add_endpoint()
/// was called. 0 or an unknown bit gives MAILTLS_RESULT_INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_set_protocols(probe: *mut mailtls_probe, protocols: u32) -> mailtls_result {
    with_handle(probe, |p| {
        if protocols == 0 || protocols & !(MAILTLS_PROTOCOL_POP3 | MAILTLS_PROTOCOL_SMTP) != 0 {
            return Err(invalid("protocols must be MAILTLS_PROTOCOL_POP3 and/or MAILTLS_PROTOCOL_SMTP"));
        }
        p.options.protocols =
            [Protocol::Pop3, Protocol::Smtp].into_iter().filter(|&pr| protocols & protocol_constant(pr) != 0).collect();
        Ok(())
    })
}

/// Try `protocol` on `port` with `security` (MAILTLS_SECURITY_TLS or
/// MAILTLS_SECURITY_STARTTLS: the probe never tries an unencrypted
/// session). The first call replaces the standard ports; later calls add
/// to the list, in order of preference (the recommendation is the first
/// that works). Returns MAILTLS_RESULT_INVALID_ARGUMENT for an unknown
/// protocol, port 0, another security mode, or a combination already
/// listed.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_add_endpoint(
    probe: *mut mailtls_probe,
    protocol: mailtls_protocol,
    port: u16,
    security: mailtls_security,
) -> mailtls_result {
    with_handle(probe, |p| {
        let protocol = protocol_of(protocol)?;
        let security = match security {
            MAILTLS_SECURITY_TLS => Security::Tls,
            MAILTLS_SECURITY_STARTTLS => Security::StartTls,
            _ => return Err(invalid("the probe tries only MAILTLS_SECURITY_TLS and MAILTLS_SECURITY_STARTTLS")),
        };
        let endpoint = Endpoint { protocol, port, security };
        let mut list = p.options.endpoints.clone().unwrap_or_default();
        list.push(endpoint);
        // The same checks the probe makes, at the call that caused them.
        crate::probe::check_endpoints(&list)?;
        p.options.endpoints = Some(list);
        Ok(())
    })
}

/// Probe `host` (a UTF-8 name or address): every combination at once,
/// returning once all have finished, at the latest after about the
/// timeout. With `user` and `password` (both
/// UTF-8, or both NULL for no login) it logs in where the connection is
/// encrypted and the certificate verified (or pinned), never elsewhere,
/// and says goodbye. Copies its arguments. Returns MAILTLS_RESULT_OK when
/// the probe ran, whatever each combination's outcome (read those with
/// the accessors; the results of an earlier run are replaced);
/// MAILTLS_RESULT_NULL_ARGUMENT or MAILTLS_RESULT_INVALID_ARGUMENT for a
/// bad argument (only one of `user` and `password`, CR or LF in `host`),
/// nothing tried. Blocks the calling thread. The probe's own threads that
/// are still running at the deadline (reported as
/// MAILTLS_RESULT_TIMEOUT) finish on their own timeouts, within a few
/// times the timeout: a program that unloads the library (dlclose,
/// FreeLibrary) must wait that long after such a run.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_run(
    probe: *mut mailtls_probe,
    host: *const c_char,
    user: *const c_char,
    password: *const c_char,
) -> mailtls_result {
    with_handle(probe, |p| {
        // SAFETY: NUL-terminated strings valid for the call (the caller's
        // contract); NULL is checked.
        let host = unsafe { arg_str(host, "host") }?;
        // SAFETY: as above.
        let user = unsafe { arg_optional_str(user, "user") }?;
        // SAFETY: as above.
        let password = unsafe { arg_optional_str(password, "password") }?;
        let credentials = match (user, password) {
            (Some(user), Some(password)) => Some((user, password)),
            (None, None) => None,
            _ => return Err(invalid("give both user and password, or neither")),
        };
        p.attempts.clear();
        p.recommended = [None, None];
        let report = crate::probe::probe(host, credentials, &p.options)?;
        p.recommended = [Protocol::Pop3, Protocol::Smtp].map(|protocol| recommended_index(&report, protocol));
        p.attempts = report.attempts.iter().map(CAttempt::from).collect();
        Ok(())
    })
}

fn recommended_index(report: &ProbeReport, protocol: Protocol) -> Option<usize> {
    let chosen = report.recommended(protocol)?;
    report.attempts.iter().position(|a| std::ptr::eq(a, chosen))
}

/// The number of combinations the last mailtls_probe_run() tried (0
/// before the first run, or if `probe` is NULL or busy). Their indexes, in
/// order of preference, go from 0 to the count minus one.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_attempt_count(probe: *const mailtls_probe) -> usize {
    guard(|| read_handle(probe, |p| p.attempts.len()).unwrap_or(0))
}

/// Read the combination at `index`; `None` for a NULL or busy probe or an
/// index out of range.
fn read_attempt<T>(probe: *const mailtls_probe, index: usize, body: impl FnOnce(&CAttempt) -> T) -> Option<T> {
    read_handle(probe, |p| p.attempts.get(index).map(body)).flatten()
}

fn optional_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
}

/// The protocol of the combination at `index` (MAILTLS_PROTOCOL_*); 0 if
/// `probe` is NULL or busy or `index` is out of range (so for the other
/// accessors below).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_attempt_protocol(probe: *const mailtls_probe, index: usize) -> mailtls_protocol {
    guard_or(0, || read_attempt(probe, index, |a| a.protocol).unwrap_or(0))
}

/// The port of the combination at `index`.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_attempt_port(probe: *const mailtls_probe, index: usize) -> u16 {
    guard_or(0, || read_attempt(probe, index, |a| a.port).unwrap_or(0))
}

/// The security mode of the combination at `index`: MAILTLS_SECURITY_TLS
/// or MAILTLS_SECURITY_STARTTLS (0, MAILTLS_SECURITY_AUTO, when out of
/// range).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_attempt_security(probe: *const mailtls_probe, index: usize) -> mailtls_security {
    guard_or(0, || read_attempt(probe, index, |a| a.security).unwrap_or(0))
}

/// MAILTLS_RESULT_OK if the combination at `index` works (connected, TLS
/// up, certificate verified or pinned); otherwise why not, as a connect
/// would have returned it (MAILTLS_RESULT_CONNECT_FAILED,
/// MAILTLS_RESULT_TIMEOUT, MAILTLS_RESULT_CERTIFICATE_*,
/// MAILTLS_RESULT_STARTTLS_UNAVAILABLE, MAILTLS_RESULT_TLS_VERSION, ...).
/// MAILTLS_RESULT_INVALID_ARGUMENT if `index` is out of range,
/// MAILTLS_RESULT_NULL_ARGUMENT if `probe` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_attempt_result(probe: *const mailtls_probe, index: usize) -> mailtls_result {
    guard(|| {
        if probe.is_null() {
            return super::result::MAILTLS_RESULT_NULL_ARGUMENT;
        }
        read_attempt(probe, index, |a| a.result).unwrap_or(super::result::MAILTLS_RESULT_INVALID_ARGUMENT)
    })
}

/// What went wrong with the combination at `index` and what to change, in
/// plain words (as mailtls_pop3_last_error() would say it); NULL if it
/// works. Borrowed from the probe (UTF-8, NUL-terminated), valid until its
/// next run or its free.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_attempt_message(probe: *const mailtls_probe, index: usize) -> *const c_char {
    guard(|| read_attempt(probe, index, |a| optional_ptr(&a.message)).unwrap_or(std::ptr::null()))
}

/// The TLS version agreed on the combination at `index` (e.g. "TLSv1.3");
/// NULL if TLS did not come up, or with native-tls (Windows, macOS), which
/// does not tell it. Borrowed as mailtls_probe_attempt_message().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_attempt_tls_version(probe: *const mailtls_probe, index: usize) -> *const c_char {
    guard(|| read_attempt(probe, index, |a| optional_ptr(&a.tls_version)).unwrap_or(std::ptr::null()))
}

/// The login methods the server offers over the encrypted connection, as
/// space-separated names (SASL mechanisms such as "PLAIN LOGIN", and for
/// POP3 "USER" and "APOP"); "" if none or the combination failed. NULL
/// only for a NULL or busy probe or an index out of range. Borrowed as
/// mailtls_probe_attempt_message().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_attempt_mechanisms(probe: *const mailtls_probe, index: usize) -> *const c_char {
    guard(|| read_attempt(probe, index, |a| a.mechanisms.as_ptr()).unwrap_or(std::ptr::null()))
}

/// How the login went on the combination at `index`
/// (MAILTLS_PROBE_LOGIN_*; MAILTLS_PROBE_LOGIN_NOT_ASKED when out of
/// range).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_attempt_login(probe: *const mailtls_probe, index: usize) -> mailtls_probe_login {
    guard_or(0, || read_attempt(probe, index, |a| a.login).unwrap_or(MAILTLS_PROBE_LOGIN_NOT_ASKED))
}

/// For MAILTLS_PROBE_LOGIN_FAILED: the result the login gave
/// (MAILTLS_RESULT_AUTH_FAILED, MAILTLS_RESULT_NO_COMMON_MECHANISM, ...);
/// MAILTLS_RESULT_OK otherwise or when out of range.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_attempt_login_result(probe: *const mailtls_probe, index: usize) -> mailtls_result {
    guard(|| read_attempt(probe, index, |a| a.login_result).unwrap_or(MAILTLS_RESULT_OK))
}

/// For MAILTLS_PROBE_LOGIN_FAILED: why, and what to change; NULL
/// otherwise. Never contains the password. Borrowed as
/// mailtls_probe_attempt_message().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_attempt_login_message(probe: *const mailtls_probe, index: usize) -> *const c_char {
    guard(|| read_attempt(probe, index, |a| optional_ptr(&a.login_message)).unwrap_or(std::ptr::null()))
}

/// The server certificate seen on the combination at `index`: the
/// session's, or the one verification refused (mailtls_certificate_failure()
/// then tells why); NULL if no handshake got that far. Borrowed from the
/// probe, valid until its next run or its free; never freed by the caller.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_attempt_certificate(
    probe: *const mailtls_probe,
    index: usize,
) -> *const mailtls_certificate {
    guard(|| {
        read_attempt(probe, index, |a| a.certificate.as_ref().map_or(std::ptr::null(), |c| c as *const _))
            .unwrap_or(std::ptr::null())
    })
}

/// The setting to recommend for `protocol`: the index of the first
/// combination in order of preference (implicit TLS before STARTTLS) whose
/// login succeeded, else of the first that works. On success writes
/// `index_out` and returns MAILTLS_RESULT_OK; MAILTLS_RESULT_NOT_CONNECTED
/// if nothing of `protocol` works (or it was not probed; `index_out`
/// unchanged); MAILTLS_RESULT_INVALID_ARGUMENT for an unknown protocol;
/// MAILTLS_RESULT_NULL_ARGUMENT if `probe` or `index_out` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_recommended(
    probe: *mut mailtls_probe,
    protocol: mailtls_protocol,
    index_out: *mut usize,
) -> mailtls_result {
    with_handle(probe, |p| {
        let index_out = out!(index_out)?;
        let slot = match protocol_of(protocol)? {
            Protocol::Pop3 => 0,
            Protocol::Smtp => 1,
        };
        let index = p.recommended[slot]
            .ok_or(Error::NotConnected("no combination of this protocol works: see each one's message"))?;
        index_out.write(index);
        Ok(())
    })
}

/// Copy the message of the last failed call on this probe into `buf`
/// (buffer rules as mailtls_pop3_last_error()); "" if it succeeded.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_probe_last_error(
    probe: *const mailtls_probe,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    copy_detail(probe, ErrorDetail::message, buf, buf_len, len_out)
}
