//! The socket under native-tls, with a workaround for Wine's SChannel.
//!
//! When a TLS record has arrived only in part, SChannel's DecryptMessage
//! says how many bytes are missing, and the schannel crate reads until it
//! has that many. Wine 8 reports the whole record's size in the buffer the
//! crate looks at, not the missing count (its `schan_DecryptMessage` fills
//! the second SECBUFFER_MISSING with `expected_size - 0`), so the crate
//! goes on reading past the end of the record. At the end of a reply the
//! server sends nothing more, and a RETR of some sizes (1,000 or 20,000
//! bytes, say) waits for the read timeout.
//!
//! Under Wine, [`Socket`] therefore ends every refill after one read: the
//! read after one that gave bytes gives none (a "pause"), which makes the
//! crate stop reading and try to decrypt what it has; a record still
//! incomplete makes it read again, and that read waits for the server as it
//! should. The crate takes a pause for the end of the stream only when it
//! comes before any byte of a refill; [`Stream`] then reads again, knowing
//! it was a pause. Real Windows reports the count correctly, so there the
//! socket is passed through untouched.

use super::super::carrier::Carrier;
use std::io::{self, Read, Write};

use native_tls::TlsStream;

/// A TCP socket that, once [`Socket::pause_between_reads`] is on, answers
/// every second read with a pause.
#[derive(Debug)]
pub(crate) struct Socket {
    tcp: Carrier,
    pause_between_reads: bool,
    last_read_gave_bytes: bool,
    paused: bool,
}

impl Socket {
    pub fn new(tcp: Carrier) -> Socket {
        Socket { tcp, pause_between_reads: false, last_read_gave_bytes: false, paused: false }
    }

    /// Turned on after the handshake, whose reads the crate cannot pause
    /// (a pause there reads as the end of the stream).
    fn set_pause_between_reads(&mut self, on: bool) {
        self.pause_between_reads = on;
    }

    /// Whether a pause was given since the last call.
    fn take_paused(&mut self) -> bool {
        std::mem::take(&mut self.paused)
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pause_between_reads && self.last_read_gave_bytes {
            self.last_read_gave_bytes = false;
            self.paused = true;
            return Ok(0);
        }
        let n = self.tcp.read(buf)?;
        self.last_read_gave_bytes = n > 0;
        Ok(n)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// A TLS stream over [`Socket`] that reads through its pauses.
pub(crate) struct Stream {
    tls: TlsStream<Socket>,
}

impl Stream {
    /// `tls` just finished its handshake; `under_wine` turns the
    /// workaround on.
    pub fn new(mut tls: TlsStream<Socket>, under_wine: bool) -> Stream {
        tls.get_mut().set_pause_between_reads(under_wine);
        Stream { tls }
    }

    pub fn get_ref(&self) -> &Carrier {
        &self.tls.get_ref().tcp
    }

    pub fn tls(&self) -> &TlsStream<Socket> {
        &self.tls
    }

    pub fn shutdown(&mut self) -> io::Result<()> {
        // The close_notify exchange runs the handshake code, which a pause
        // would end.
        self.tls.get_mut().set_pause_between_reads(false);
        self.tls.shutdown()
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            self.tls.get_mut().take_paused();
            let n = self.tls.read(buf)?;
            // An empty read is the end of the stream unless it was a pause;
            // the read after a pause always reaches the socket, so this
            // loops at most once per pause.
            if n > 0 || buf.is_empty() || !self.tls.get_mut().take_paused() {
                return Ok(n);
            }
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tls.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tls.flush()
    }
}

/// Whether this process runs under Wine: its ntdll exports
/// `wine_get_version`, which Windows' does not.
#[cfg(windows)]
pub(crate) fn under_wine() -> bool {
    use std::ffi::c_void;
    use std::sync::OnceLock;

    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn GetModuleHandleW(name: *const u16) -> *mut c_void;
        fn GetProcAddress(module: *mut c_void, name: *const u8) -> *mut c_void;
    }

    static UNDER_WINE: OnceLock<bool> = OnceLock::new();
    *UNDER_WINE.get_or_init(|| {
        let ntdll: Vec<u16> = "ntdll.dll\0".encode_utf16().collect();
        // SAFETY: a NUL-terminated UTF-16 name; ntdll is loaded in every
        // Windows process and is never unloaded, so the handle stays valid.
        let module = unsafe { GetModuleHandleW(ntdll.as_ptr()) };
        // SAFETY: a valid module handle (checked) and a NUL-terminated
        // ASCII name; the address returned is only compared with null.
        !module.is_null() && !unsafe { GetProcAddress(module, c"wine_get_version".as_ptr().cast()) }.is_null()
    })
}

/// Only Windows' SChannel has the bug.
#[cfg(not(windows))]
pub(crate) fn under_wine() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    fn socket_pair() -> (Socket, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (Socket::new(Carrier::Tcp(client)), server)
    }

    #[test]
    fn without_the_workaround_reads_pass_through() {
        let (mut socket, mut server) = socket_pair();
        server.write_all(b"abcdef").unwrap();
        server.shutdown(std::net::Shutdown::Write).unwrap();
        let mut all = Vec::new();
        socket.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"abcdef");
        assert!(!socket.take_paused());
    }

    #[test]
    fn with_the_workaround_every_read_that_gave_bytes_is_followed_by_one_pause() {
        let (mut socket, mut server) = socket_pair();
        socket.set_pause_between_reads(true);
        server.write_all(b"abc").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(socket.read(&mut buf).unwrap(), 3);
        // The bytes that would make the crate block are not asked for:
        // this read returns at once although the server sends nothing.
        assert_eq!(socket.read(&mut buf).unwrap(), 0);
        assert!(socket.take_paused());
        assert!(!socket.take_paused(), "a pause is reported once");
        // After a pause the socket is read again, so the end of the stream
        // shows as such and is not taken for a pause.
        server.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(socket.read(&mut buf).unwrap(), 0);
        assert!(!socket.take_paused());
        assert_eq!(socket.read(&mut buf).unwrap(), 0, "no pause after an empty read");
        assert!(!socket.take_paused());
    }
}
