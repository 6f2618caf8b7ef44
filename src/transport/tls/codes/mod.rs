//! The TLS libraries' failure numbers and what each means, as pure tables
//! over the numbers, so that every platform's mapping is unit-tested on
//! any platform.

// Used where OpenSSL is the TLS library; compiled everywhere all the same.
#[cfg_attr(any(windows, target_vendor = "apple"), allow(dead_code))]
pub(crate) mod openssl;
pub(crate) mod schannel;
pub(crate) mod secure_transport;
