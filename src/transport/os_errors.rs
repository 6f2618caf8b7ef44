//! What an OS error of a connect or a host name lookup means, told by its
//! number, or without one by std's `io::ErrorKind`; never by the OS's text,
//! which is in the system's language and under Wine often missing
//! ("OS Error 10061 (FormatMessageW() returned error 317)").
//!
//! The tables hold the numbers of each platform as plain data, so the
//! Windows (Winsock) numbers are checked on Linux too. std maps the same
//! numbers to `ErrorKind`s (its `decode_error_kind` for Unix and Windows),
//! which covers errors without a number; the tables add the numbers std
//! leaves uncategorized (EHOSTDOWN, WSAEHOSTDOWN, the Winsock lookup codes).

use std::io;

/// Why a connection could not be made, in the terms a person can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectCause {
    Refused,
    TimedOut,
    HostUnreachable,
    NetworkUnreachable,
    NetworkDown,
    AddrNotAvailable,
    PermissionDenied,
    Reset,
}

/// The connect error numbers of Windows (Winsock), the same on every
/// Windows (elsewhere only the tests read them).
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) const WINSOCK_CONNECT: &[(i32, ConnectCause)] = {
    use ConnectCause::*;
    &[
        (10061, Refused),            // WSAECONNREFUSED
        (10060, TimedOut),           // WSAETIMEDOUT
        (10065, HostUnreachable),    // WSAEHOSTUNREACH
        (10064, HostUnreachable),    // WSAEHOSTDOWN
        (10051, NetworkUnreachable), // WSAENETUNREACH
        (10050, NetworkDown),        // WSAENETDOWN
        (10049, AddrNotAvailable),   // WSAEADDRNOTAVAIL
        (10013, PermissionDenied),   // WSAEACCES
        (10054, Reset),              // WSAECONNRESET
        (10053, Reset),              // WSAECONNABORTED
        (10052, Reset),              // WSAENETRESET
    ]
};

/// The connect error numbers of this Unix (they differ between Unixes;
/// libc knows them).
#[cfg(unix)]
pub(crate) const UNIX_CONNECT: &[(i32, ConnectCause)] = {
    use ConnectCause::*;
    &[
        (libc::ECONNREFUSED, Refused),
        (libc::ETIMEDOUT, TimedOut),
        (libc::EHOSTUNREACH, HostUnreachable),
        (libc::EHOSTDOWN, HostUnreachable),
        (libc::ENETUNREACH, NetworkUnreachable),
        (libc::ENETDOWN, NetworkDown),
        (libc::EADDRNOTAVAIL, AddrNotAvailable),
        (libc::EACCES, PermissionDenied),
        // A local firewall rule (Linux netfilter) rejects with EPERM.
        (libc::EPERM, PermissionDenied),
        (libc::ECONNRESET, Reset),
        (libc::ECONNABORTED, Reset),
        (libc::ENETRESET, Reset),
    ]
};

/// The numbers of the platform this runs on.
#[cfg(windows)]
pub(crate) const CONNECT_HERE: &[(i32, ConnectCause)] = WINSOCK_CONNECT;
#[cfg(unix)]
pub(crate) const CONNECT_HERE: &[(i32, ConnectCause)] = UNIX_CONNECT;
#[cfg(not(any(unix, windows)))]
pub(crate) const CONNECT_HERE: &[(i32, ConnectCause)] = &[];

/// What `err` of a connect means: by its number in `codes` (the platform's
/// table), else by its kind; `None` for anything else.
pub(crate) fn connect_cause(err: &io::Error, codes: &[(i32, ConnectCause)]) -> Option<ConnectCause> {
    use io::ErrorKind::*;
    if let Some(cause) = err.raw_os_error().and_then(|n| lookup(codes, n)) {
        return Some(cause);
    }
    Some(match err.kind() {
        ConnectionRefused => ConnectCause::Refused,
        TimedOut | WouldBlock => ConnectCause::TimedOut,
        HostUnreachable => ConnectCause::HostUnreachable,
        NetworkUnreachable => ConnectCause::NetworkUnreachable,
        NetworkDown => ConnectCause::NetworkDown,
        AddrNotAvailable => ConnectCause::AddrNotAvailable,
        PermissionDenied => ConnectCause::PermissionDenied,
        ConnectionReset | ConnectionAborted => ConnectCause::Reset,
        _ => return None,
    })
}

/// Why a host name lookup failed (known from Windows' numbers only).
#[cfg_attr(not(windows), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LookupCause {
    /// The DNS says the name does not exist.
    NoSuchName,
    /// The DNS server could not be asked or did not answer; it may work later.
    TryAgain,
    /// The DNS server failed for good.
    ServerFailed,
    /// The name exists but has no address.
    NoAddress,
}

/// Windows reports a failed getaddrinfo as a Winsock number (std passes it
/// on as the raw OS error). std on Unix turns getaddrinfo's EAI_* codes
/// into text without a number, so there is no Unix table.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) const WINSOCK_LOOKUP: &[(i32, LookupCause)] = {
    use LookupCause::*;
    &[
        (11001, NoSuchName),   // WSAHOST_NOT_FOUND
        (11002, TryAgain),     // WSATRY_AGAIN
        (11003, ServerFailed), // WSANO_RECOVERY
        (11004, NoAddress),    // WSANO_DATA
    ]
};

#[cfg(windows)]
pub(crate) const LOOKUP_HERE: &[(i32, LookupCause)] = WINSOCK_LOOKUP;
#[cfg(not(windows))]
pub(crate) const LOOKUP_HERE: &[(i32, LookupCause)] = &[];

/// What `err` of a lookup means, by its number in `codes`.
pub(crate) fn lookup_cause(err: &io::Error, codes: &[(i32, LookupCause)]) -> Option<LookupCause> {
    err.raw_os_error().and_then(|n| lookup(codes, n))
}

fn lookup<T: Copy>(table: &[(i32, T)], code: i32) -> Option<T> {
    table.iter().find(|(n, _)| *n == code).map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnectCause::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn winsock_connect_numbers_mean_the_same_on_any_platform() {
        let cases = [
            (10061, Refused),
            (10060, TimedOut),
            (10065, HostUnreachable),
            (10051, NetworkUnreachable),
            (10049, AddrNotAvailable),
            (10013, PermissionDenied),
            (10054, Reset),
        ];
        for (code, cause) in cases {
            assert_eq!(connect_cause(&os(code), WINSOCK_CONNECT), Some(cause), "{code}");
        }
        // Not a connect error: left to the fallback (the OS's own text).
        assert_eq!(connect_cause(&os(10022), WINSOCK_CONNECT), None, "WSAEINVAL");
    }

    #[cfg(unix)]
    #[test]
    fn unix_connect_numbers_come_from_libc() {
        assert_eq!(connect_cause(&os(libc::ECONNREFUSED), UNIX_CONNECT), Some(Refused));
        assert_eq!(connect_cause(&os(libc::EHOSTDOWN), UNIX_CONNECT), Some(HostUnreachable));
        assert_eq!(connect_cause(&os(libc::EPERM), UNIX_CONNECT), Some(PermissionDenied));
        assert_eq!(connect_cause(&os(libc::ENOENT), UNIX_CONNECT), None);
    }

    /// The table of this platform agrees with std's own mapping of the same
    /// numbers, wherever std has one.
    #[test]
    fn the_table_here_agrees_with_std() {
        for &(code, cause) in CONNECT_HERE {
            assert_eq!(connect_cause(&os(code), &[]).unwrap_or(cause), cause, "os error {code}");
        }
    }

    #[test]
    fn errors_without_a_number_go_by_their_kind() {
        let timed_out = io::Error::new(io::ErrorKind::TimedOut, "connection timed out");
        assert_eq!(connect_cause(&timed_out, CONNECT_HERE), Some(TimedOut));
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(connect_cause(&refused, WINSOCK_CONNECT), Some(Refused));
        assert_eq!(connect_cause(&io::Error::other("odd"), CONNECT_HERE), None);
    }

    #[test]
    fn winsock_lookup_numbers() {
        assert_eq!(lookup_cause(&os(11001), WINSOCK_LOOKUP), Some(LookupCause::NoSuchName));
        assert_eq!(lookup_cause(&os(11002), WINSOCK_LOOKUP), Some(LookupCause::TryAgain));
        assert_eq!(lookup_cause(&os(11003), WINSOCK_LOOKUP), Some(LookupCause::ServerFailed));
        assert_eq!(lookup_cause(&os(11004), WINSOCK_LOOKUP), Some(LookupCause::NoAddress));
        assert_eq!(lookup_cause(&io::Error::other("failed"), WINSOCK_LOOKUP), None);
    }
}
