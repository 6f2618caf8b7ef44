//! The TLS libraries' failure numbers and what each means, as pure tables
//! over the numbers, so that every platform's mapping is unit-tested on
//! any platform.

pub(crate) mod openssl;
pub(crate) mod schannel;
pub(crate) mod secure_transport;
