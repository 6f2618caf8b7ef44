//! `mailtls send URL --from A --to B[,C] FILE|-`: one message, with each
//! recipient's result, and progress for a large message.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

use mailtls::smtp::{MessageSource, RecipientResult, Scanned, SmtpClient, scan_bytes, scan_reader};
use mailtls::{Client, ClientOptions, Error};

use crate::account::{Account, Protocol};
use crate::connect::{connect, password};
use crate::exit::{Exit, Failure};
use crate::progress::{Counting, Progress};

pub struct Envelope<'a> {
    pub from: &'a str,
    pub to: &'a [String],
}

pub fn run(account: &Account, opts: &ClientOptions, envelope: &Envelope<'_>, path: &Path) -> Result<(), Failure> {
    if account.protocol != Protocol::Smtp {
        return Err(Failure::usage("send needs a submission server: give an smtps:// or smtp:// URL"));
    }
    let mut message = Message::open(path)?;
    let password = account.user.as_ref().map(|_| password(account)).transpose()?;
    let mut client: SmtpClient = connect(account, opts)?;
    if let (Some(user), Some(password)) = (&account.user, &password) {
        client.login(user, password, None)?;
    }
    let recipients: Vec<&str> = envelope.to.iter().map(String::as_str).collect();
    let mut progress = Progress::bytes("sending", message.len);
    let mut reader = Counting { inner: &mut message.reader, progress: &mut progress };
    let source = MessageSource {
        reader: &mut reader,
        size: Some(message.scanned.size),
        eight_bit: Some(message.scanned.eight_bit),
    };
    let sent = client.send(envelope.from, &recipients, source, None);
    progress.finish();
    let results = match sent {
        Ok(results) => results,
        Err(Error::RecipientsRefused(results, _)) => {
            show_results(&results);
            return Err(Failure {
                exit: Exit::Refused,
                message: "every recipient was refused: nothing was sent".into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    show_results(&results);
    if client.is_open() {
        client.quit()?;
    }
    let refused = results.iter().filter(|r| !r.accepted).count();
    if refused > 0 {
        return Err(Failure {
            exit: Exit::Refused,
            message: format!(
                "{refused} of {} recipients refused; the message went to the other {}",
                results.len(),
                results.len() - refused
            ),
        });
    }
    println!("sent {} bytes to {} recipients", message.len, results.len());
    Ok(())
}

fn show_results(results: &[RecipientResult]) {
    for r in results {
        let verdict = if r.accepted { "accepted" } else { "REFUSED " };
        println!("{verdict}  {}  {}", r.address, r.reply.to_server_reply().text);
    }
}

/// The message: a file read twice (once to learn its size and 8-bit
/// needs, once to send it), or standard input held in memory.
struct Message {
    reader: Box<dyn Read>,
    /// Its bytes as read (what the progress counts).
    len: u64,
    scanned: Scanned,
}

impl Message {
    fn open(path: &Path) -> Result<Message, Failure> {
        let local =
            |what: String| move |e: std::io::Error| Failure { exit: Exit::Other, message: format!("{what}: {e}") };
        if path == Path::new("-") {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(local("cannot read the message from standard input".into()))?;
            let scanned = scan_bytes(&bytes);
            return Ok(Message { len: bytes.len() as u64, scanned, reader: Box::new(std::io::Cursor::new(bytes)) });
        }
        let cannot = || format!("cannot read the message {}", path.display());
        let mut file = File::open(path).map_err(local(cannot()))?;
        let scanned = scan_reader(&mut file).map_err(local(cannot()))?;
        let len = file.stream_position().map_err(local(cannot()))?;
        file.rewind().map_err(local(cannot()))?;
        Ok(Message { reader: Box::new(file), len, scanned })
    }
}
