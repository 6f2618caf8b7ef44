//! Does a port speak TLS from the first byte? Asked when a server said
//! nothing in clear: the usual cause is SSL/TLS port (995, 465) typed with
//! STARTTLS chosen, and waiting out the whole I/O timeout for a greeting
//! that never comes tells the user nothing.
//!
//! The probe opens a second connection to the same address, sends one
//! ClientHello (no credential, no command of the protocol), and reads the
//! first bytes back: a TLS server answers with a handshake record (its
//! ServerHello, or a HelloRetryRequest) or an alert, both recognisable by
//! their record header whatever the server thinks of our offer. Nothing of
//! the handshake goes on.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

/// TLS record types a server answers a ClientHello with.
const RECORD_HANDSHAKE: u8 = 0x16;
const RECORD_ALERT: u8 = 0x15;

/// Whether the server at `addr` answered a TLS ClientHello within `wait`
/// (for the connection and the answer together).
pub(crate) fn speaks_tls(addr: SocketAddr, host: &str, wait: Duration) -> bool {
    let Ok(mut tcp) = TcpStream::connect_timeout(&addr, wait) else {
        return false;
    };
    if tcp.set_read_timeout(Some(wait)).is_err() || tcp.set_write_timeout(Some(wait)).is_err() {
        return false;
    }
    if tcp.write_all(&client_hello(host)).is_err() {
        return false;
    }
    let mut header = [0u8; 3];
    let mut got = 0;
    while got < header.len() {
        match tcp.read(&mut header[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    is_tls_record(&header[..got])
}

/// A TLS record header: a handshake or alert record of version 3.x.
fn is_tls_record(bytes: &[u8]) -> bool {
    matches!(bytes, [RECORD_HANDSHAKE | RECORD_ALERT, 0x03, 0x00..=0x04, ..])
}

/// A ClientHello offering TLS 1.3 and 1.2 with common suites, groups,
/// signature schemes and an x25519 key share, and the server name when `host` is one (not an
/// address). It need not lead anywhere: any TLS server answers it.
fn client_hello(host: &str) -> Vec<u8> {
    let mut extensions = Vec::new();
    if host.parse::<IpAddr>().is_err() && !host.is_empty() && host.len() <= 253 {
        let name = host.as_bytes();
        let mut list = vec![0u8]; // host_name
        push_u16_prefixed(&mut list, name);
        let mut body = Vec::new();
        push_u16_prefixed(&mut body, &list);
        push_extension(&mut extensions, 0x0000, &body);
    }
    // supported_groups: x25519, secp256r1, secp384r1.
    push_extension(&mut extensions, 0x000a, &[0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18]);
    // ec_point_formats: uncompressed.
    push_extension(&mut extensions, 0x000b, &[0x01, 0x00]);
    // signature_algorithms: ECDSA/RSA-PSS/RSA with SHA-256, -384, -512.
    let schemes: [u16; 9] = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0603];
    let mut list = Vec::new();
    for s in schemes {
        list.extend_from_slice(&s.to_be_bytes());
    }
    let mut body = Vec::new();
    push_u16_prefixed(&mut body, &list);
    push_extension(&mut extensions, 0x000d, &body);
    // supported_versions: TLS 1.3, TLS 1.2.
    push_extension(&mut extensions, 0x002b, &[0x04, 0x03, 0x04, 0x03, 0x03]);
    // key_share: an x25519 share (any 32 bytes are a public key). Without
    // one, OpenSSL servers that allow no HelloRetryRequest for the group
    // end the handshake without a word ("no suitable key share").
    let mut share = vec![0x00, 0x1d, 0x00, 0x20];
    share.extend_from_slice(&random_bytes());
    let mut body = Vec::new();
    push_u16_prefixed(&mut body, &share);
    push_extension(&mut extensions, 0x0033, &body);

    let mut hello = Vec::new();
    hello.extend_from_slice(&[0x03, 0x03]); // legacy version: TLS 1.2
    hello.extend_from_slice(&random_bytes());
    hello.push(0); // no session id
    let suites: [u16; 9] = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8];
    let mut list = Vec::new();
    for s in suites {
        list.extend_from_slice(&s.to_be_bytes());
    }
    push_u16_prefixed(&mut hello, &list);
    hello.extend_from_slice(&[0x01, 0x00]); // compression: null only
    push_u16_prefixed(&mut hello, &extensions);

    let mut handshake = vec![0x01]; // client_hello
    handshake.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);

    let mut record = vec![RECORD_HANDSHAKE, 0x03, 0x01];
    push_u16_prefixed(&mut record, &handshake);
    record
}

fn push_u16_prefixed(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}

fn push_extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    push_u16_prefixed(out, body);
}

/// The ClientHello's random: unpredictable enough for a hello that is never
/// continued (no key is ever derived from it).
fn random_bytes() -> [u8; 32] {
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_hello_is_one_well_formed_record() {
        let hello = client_hello("mail.example.org");
        assert_eq!(&hello[..3], &[0x16, 0x03, 0x01]);
        let record_len = u16::from_be_bytes([hello[3], hello[4]]) as usize;
        assert_eq!(record_len, hello.len() - 5);
        assert_eq!(hello[5], 0x01, "a client_hello handshake message");
        let body_len = u32::from_be_bytes([0, hello[6], hello[7], hello[8]]) as usize;
        assert_eq!(body_len, record_len - 4);
        assert!(hello.windows(16).any(|w| w == b"mail.example.org"), "with the server name");
        assert!(!client_hello("127.0.0.1").windows(9).any(|w| w == b"127.0.0.1"), "no address as SNI");
    }

    #[test]
    fn only_tls_record_headers_count() {
        assert!(is_tls_record(&[0x16, 0x03, 0x03]));
        assert!(is_tls_record(&[0x15, 0x03, 0x01]));
        assert!(!is_tls_record(b"+OK"));
        assert!(!is_tls_record(b"220"));
        assert!(!is_tls_record(&[0x16, 0x03]));
        assert!(!is_tls_record(&[]));
    }

    /// Against OpenSSL's own server (the crate's), and a plain server that
    /// answers with a text line.
    #[test]
    fn a_tls_server_is_recognised_and_a_plain_one_is_not() {
        use std::net::TcpListener;
        let plain = TcpListener::bind("127.0.0.1:0").unwrap();
        let plain_addr = plain.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = plain.accept().unwrap();
            let _ = s.write_all(b"+OK hello\r\n");
            let mut sink = [0u8; 512];
            let _ = s.read(&mut sink);
        });
        assert!(!speaks_tls(plain_addr, "localhost", Duration::from_secs(5)));
        t.join().unwrap();

        // A server that reads the hello and answers like TLS does.
        let tls_like = TcpListener::bind("127.0.0.1:0").unwrap();
        let tls_addr = tls_like.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = tls_like.accept().unwrap();
            let mut first = [0u8; 5];
            s.read_exact(&mut first).unwrap();
            assert_eq!(&first[..3], &[0x16, 0x03, 0x01], "a ClientHello came");
            // A handshake_failure alert, as a server that likes nothing in
            // the offer sends.
            let _ = s.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);
        });
        assert!(speaks_tls(tls_addr, "localhost", Duration::from_secs(5)));
        t.join().unwrap();

        // Nothing listening.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        assert!(!speaks_tls(closed, "localhost", Duration::from_secs(2)));
    }
}
