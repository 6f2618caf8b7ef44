//! RETR and TOP: streamed to a sink, into memory, into a file, or many
//! messages pipelined.

use std::ops::ControlFlow;
use std::path::Path;

use super::body::read_body;
use super::pipeline::OnRefusal;
use super::{Pop3Client, check_number};
use crate::error::{Error, Result};
use crate::session::Client;

/// Most bytes of messages one [`Pop3Client::retr_many_to_vec`] call holds,
/// by their LIST sizes, beyond a single message larger than this.
pub const RETR_BATCH_BUDGET: u64 = 16 * 1024 * 1024;

/// One piece of a message delivered by [`Pop3Client::retr_many`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    Data(&'a [u8]),
    End,
}

/// Messages retrieved into memory by [`Pop3Client::retr_many_to_vec`]:
/// message `i` is `data[ends[i - 1]..ends[i]]` (from 0 for the first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retrieved {
    pub data: Vec<u8>,
    pub ends: Vec<usize>,
}

impl Pop3Client {
    /// RETR: stream message `number` to `sink`, dot-unstuffed, CRLF kept.
    /// A sink that breaks cancels the transfer ([`Error::Cancelled`]) and
    /// closes the connection without QUIT, so no deletion is committed.
    pub fn retr(&mut self, number: u32, sink: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> Result<()> {
        self.fetch(number, format!("RETR {number}"), sink)
    }

    /// TOP: the headers and the first `lines` body lines of a message.
    pub fn top(&mut self, number: u32, lines: u32, sink: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> Result<()> {
        self.fetch(number, format!("TOP {number} {lines}"), sink)
    }

    fn fetch(&mut self, number: u32, command: String, sink: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) -> Result<()> {
        self.run(|c| {
            check_number(number)?;
            c.transaction(command.as_bytes())?;
            read_body(&mut c.session.conn, &mut |chunk| cancel_if_break(sink(chunk)))
        })
    }

    /// RETR into memory, up to the `max_message_bytes` option.
    pub fn retr_to_vec(&mut self, number: u32) -> Result<Vec<u8>> {
        let limit = self.session.opts.max_message_bytes;
        let mut out = Vec::new();
        let mut too_large = false;
        let r = self.retr(number, &mut |chunk| {
            if (out.len() + chunk.len()) as u64 > limit {
                too_large = true;
                return ControlFlow::Break(());
            }
            out.extend_from_slice(chunk);
            ControlFlow::Continue(())
        });
        match r {
            Err(Error::Cancelled) if too_large => Err(Error::MessageTooLarge { limit }),
            r => r.map(|_| out),
        }
    }

    /// RETR for many messages into memory, pipelined as [`Self::retr_many`],
    /// a batch at a time: from the front of `numbers`, as many messages as
    /// fit in [`RETR_BATCH_BUDGET`] bytes by their LIST sizes (at least
    /// one), so memory does not grow with the number of messages asked
    /// for. Returns how many were taken; the caller goes on with the rest.
    /// The messages are appended to `out.data` one after the other, each
    /// one's end offset to `out.ends`. Each message is held to the
    /// `max_message_bytes` option. On an error, `out` keeps the messages
    /// that arrived whole.
    pub fn retr_many_to_vec(&mut self, numbers: &[u32], out: &mut Retrieved) -> Result<usize> {
        let taken = self.run(|c| {
            numbers.iter().try_for_each(|n| check_number(*n))?;
            c.batch_prefix(numbers, RETR_BATCH_BUDGET)
        })?;
        self.retr_into(&numbers[..taken], out).map(|_| taken)
    }

    /// How many messages from the front of `numbers` fit in `budget` bytes
    /// by their LIST sizes (at least one). A number LIST does not name
    /// counts as empty: its RETR will be refused.
    fn batch_prefix(&mut self, numbers: &[u32], budget: u64) -> Result<usize> {
        let sizes = self.sizes()?;
        let mut total = 0u64;
        let mut taken = 0;
        for number in numbers {
            let size = sizes.binary_search_by_key(number, |(n, _)| *n).map_or(0, |i| sizes[i].1);
            if taken > 0 && total.saturating_add(size) > budget {
                break;
            }
            total = total.saturating_add(size);
            taken += 1;
        }
        Ok(taken)
    }

    fn retr_into(&mut self, numbers: &[u32], out: &mut Retrieved) -> Result<()> {
        let limit = self.session.opts.max_message_bytes;
        let mut start = out.data.len();
        let mut too_large = false;
        let r = self.retr_many(numbers, &mut |_, part| match part {
            Part::Data(chunk) if (out.data.len() - start + chunk.len()) as u64 > limit => {
                too_large = true;
                ControlFlow::Break(())
            }
            Part::Data(chunk) => {
                out.data.extend_from_slice(chunk);
                ControlFlow::Continue(())
            }
            Part::End => {
                out.ends.push(out.data.len());
                start = out.data.len();
                ControlFlow::Continue(())
            }
        });
        out.data.truncate(start);
        match r {
            Err(Error::Cancelled) if too_large => Err(Error::MessageTooLarge { limit }),
            r => r,
        }
    }

    /// RETR into a file. The message is written to a new temporary file
    /// beside `path` (created exclusively under an unpredictable name, so
    /// no link planted there is followed), flushed to disk, renamed into
    /// place only when complete, and the directory is flushed too, so a
    /// failed transfer never leaves a truncated message under the final
    /// name and a completed one survives a power cut.
    pub fn retr_to_file(&mut self, number: u32, path: &Path) -> Result<()> {
        let mut part = crate::durable::PartFile::create_beside(path)?;
        let mut write_error = None;
        let r = self.retr(number, &mut |chunk| match part.write_all(chunk) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                write_error = Some(e);
                ControlFlow::Break(())
            }
        });
        match (r, write_error) {
            (_, Some(e)) => Err(Error::local_file(path.display())(e)),
            (Ok(()), None) => part.commit(),
            (Err(e), None) => Err(e),
        }
    }

    /// RETR for many messages, in order, pipelined when the server allows.
    /// `sink` gets each message's data and then [`Part::End`]. A negative
    /// reply stops the run: outstanding replies are read and dropped, and
    /// the error names the message.
    pub fn retr_many(&mut self, numbers: &[u32], sink: &mut dyn FnMut(u32, Part<'_>) -> ControlFlow<()>) -> Result<()> {
        self.run(|c| {
            c.session.ensure_logged_in()?;
            numbers.iter().try_for_each(|n| check_number(*n))?;
            c.pipeline(
                numbers,
                OnRefusal::StopSending,
                |n| format!("RETR {n}"),
                |conn, n, failed| {
                    if failed {
                        return read_body(conn, &mut |_| Ok(()));
                    }
                    read_body(conn, &mut |chunk| cancel_if_break(sink(n, Part::Data(chunk))))?;
                    cancel_if_break(sink(n, Part::End))
                },
            )
        })
    }
}

impl Pop3Client {
    /// [`Self::retr_many`] that goes on after a refusal: every message the
    /// server sends reaches `sink`, and a refused one is only missing from
    /// it (then the result is the [`Error::Server`] naming the refusals).
    /// For sync, where one message deleted by another client since the
    /// listing must not keep the others from being saved.
    pub(crate) fn retr_many_skipping_refused(
        &mut self,
        numbers: &[u32],
        sink: &mut dyn FnMut(u32, Part<'_>) -> ControlFlow<()>,
    ) -> Result<()> {
        self.run(|c| {
            c.session.ensure_logged_in()?;
            numbers.iter().try_for_each(|n| check_number(*n))?;
            c.pipeline(
                numbers,
                OnRefusal::KeepGoing,
                |n| format!("RETR {n}"),
                |conn, n, _| {
                    read_body(conn, &mut |chunk| cancel_if_break(sink(n, Part::Data(chunk))))?;
                    cancel_if_break(sink(n, Part::End))
                },
            )
        })
    }
}

fn cancel_if_break(flow: ControlFlow<()>) -> Result<()> {
    match flow {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(Error::Cancelled),
    }
}
