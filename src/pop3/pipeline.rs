//! One command per message, many in flight (RFC 2449 PIPELINING), with the
//! replies read in order and refusals collected.

use super::reply::Status;
use super::{Pop3Client, unexpected_continuation};
use crate::error::{Error, Result, ServerReply};
use crate::session::window::Window;
use crate::transport::Connection;

/// What a pipelined run does after a refusal.
#[derive(PartialEq, Eq)]
pub(super) enum OnRefusal {
    /// Send nothing more (RETR: nothing after the refusal is delivered).
    StopSending,
    /// Go on with every message (DELE: commands already in flight take
    /// effect anyway, so all are attempted and the refusals listed).
    KeepGoing,
}

impl Pop3Client {
    /// Send `command(n)` for each message number, keeping a window in
    /// flight (one command when the server does not pipeline), and hand each
    /// +OK to `on_ok` (which reads any multi-line body; `failed` tells it a
    /// refusal came before). The error names the refused messages.
    pub(super) fn pipeline(
        &mut self,
        numbers: &[u32],
        on_refusal: OnRefusal,
        command: impl Fn(u32) -> String,
        mut on_ok: impl FnMut(&mut Connection, u32, bool) -> Result<()>,
    ) -> Result<()> {
        let mut window = Window::new(numbers.len(), self.caps.pipelining());
        let mut refusals = Refusals::default();
        for (done, &number) in numbers.iter().enumerate() {
            if !window.expects(done) {
                break;
            }
            window.refill(&mut self.session.conn, done, |conn, i| {
                conn.queue_command(command(numbers[i]).as_bytes(), None)
            })?;
            match self.read_status()? {
                Status::Ok(_) => on_ok(&mut self.session.conn, number, refusals.any())?,
                Status::Err(reply) => {
                    if refusals.add(number, reply) && on_refusal == OnRefusal::StopSending {
                        window.stop_sending();
                    }
                }
                Status::Continue(_) => return Err(unexpected_continuation()),
            }
        }
        refusals.into_result()
    }
}

/// The refusals of a pipelined run: the first one's reply, and the numbers
/// of the others.
#[derive(Default)]
struct Refusals {
    first: Option<ServerReply>,
    others: Vec<u32>,
}

impl Refusals {
    fn any(&self) -> bool {
        self.first.is_some()
    }

    /// Record a refusal of message `number`; true if it is the first.
    fn add(&mut self, number: u32, mut reply: ServerReply) -> bool {
        if self.first.is_some() {
            self.others.push(number);
            return false;
        }
        reply.text = format!("message {number}: {}", reply.text);
        self.first = Some(reply);
        true
    }

    fn into_result(self) -> Result<()> {
        let Some(mut reply) = self.first else { return Ok(()) };
        if !self.others.is_empty() {
            let list: Vec<String> = self.others.iter().map(u32::to_string).collect();
            reply.text = format!("{} (also refused: {})", reply.text, list.join(", "));
        }
        Err(Error::Server(reply))
    }
}
