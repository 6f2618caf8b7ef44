//! `mailtls list URL`: STAT, then each message's number, size and unique
//! id (UIDL and LIST, pipelined when the server allows).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::ProgressBar;
use mailtls::pop3::{Entry, Pop3Client};
use mailtls::{Client, ClientOptions};

use crate::account::{Account, Protocol};
use crate::connect::{connect, password};
use crate::exit::Failure;

pub fn run(account: &Account, opts: &ClientOptions) -> Result<(), Failure> {
    if account.protocol != Protocol::Pop3 {
        return Err(Failure::usage("list works on a POP3 mailbox: give a pop3s:// or pop3:// URL"));
    }
    let Some(user) = &account.user else {
        return Err(Failure::usage("list needs the user in the URL: pop3s://USER@HOST"));
    };
    let password = password(account)?;
    let mut client: Pop3Client = connect(account, opts)?;
    client.login(user, &password, None)?;
    let (count, octets) = client.stat()?;
    // The listing is read in one exchange inside the library: on a
    // terminal a spinner says something is happening meanwhile.
    let spinner = std::io::stderr().is_terminal().then(|| {
        let spinner = ProgressBar::new_spinner().with_message(format!("reading the listing of {count} messages"));
        spinner.enable_steady_tick(Duration::from_millis(120));
        spinner
    });
    let entries = if client.capabilities().uidl() {
        client.list_uidl()
    } else {
        client.list().map(|sizes| {
            sizes.into_iter().map(|(number, octets)| Entry { number, octets: Some(octets), uid: None }).collect()
        })
    };
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    let entries = entries?;
    client.quit()?;
    print_table(&mut std::io::stdout().lock(), count, octets, &entries)
        .map_err(|e| Failure { exit: crate::exit::Exit::Other, message: format!("cannot write the listing: {e}") })
}

fn print_table(out: &mut impl Write, count: u32, octets: u64, entries: &[Entry]) -> std::io::Result<()> {
    writeln!(out, "{count} messages, {octets} bytes")?;
    if entries.is_empty() {
        return Ok(());
    }
    writeln!(out, "{:>7}  {:>10}  uid", "number", "bytes")?;
    for entry in entries {
        let size = entry.octets.map_or_else(|| "-".to_string(), |n| n.to_string());
        writeln!(out, "{:>7}  {:>10}  {}", entry.number, size, entry.uid.as_deref().unwrap_or("-"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_line_per_message() {
        let entries = [
            Entry { number: 1, octets: Some(120), uid: Some("a1".into()) },
            Entry { number: 2, octets: None, uid: None },
        ];
        let mut out = Vec::new();
        print_table(&mut out, 2, 120, &entries).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2 messages, 120 bytes\n number       bytes  uid\n      1         120  a1\n      2           -  -\n"
        );
    }
}
