//! An in-memory peer: serves fixed bytes in chunks of chosen sizes and
//! discards what is written. The fuzz targets and unit tests drive the
//! protocol parsers through a real [`Connection`](super::Connection) with
//! it, so reads split at any position without a socket.

use std::io::{Read, Write};

pub struct ScriptedStream {
    input: Vec<u8>,
    pos: usize,
    /// Sizes of successive reads, cycled; empty means "all at once".
    chunks: Vec<usize>,
    next_chunk: usize,
}

impl ScriptedStream {
    pub fn new(input: Vec<u8>, chunks: Vec<usize>) -> Self {
        ScriptedStream { input, pos: 0, chunks: chunks.into_iter().filter(|c| *c > 0).collect(), next_chunk: 0 }
    }
}

impl Read for ScriptedStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.input[self.pos..];
        let mut n = rest.len().min(buf.len());
        if !self.chunks.is_empty() {
            n = n.min(self.chunks[self.next_chunk % self.chunks.len()]);
            self.next_chunk += 1;
        }
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for ScriptedStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
