//! Entry points for the fuzz targets in `fuzz/` and for the corpus replay
//! test (`tests/fuzz_corpus.rs`). Not part of the API.
//!
//! Each function takes arbitrary bytes, must never panic, and asserts what
//! must hold whatever a server or caller sends: above all that reading the
//! same bytes split into different read sizes gives the same result.
//! Targets that read through a [`Connection`] take their read sizes from the
//! first bytes of the input (see [`split_chunks`]).

use crate::capabilities::{CapabilitySet, MAX_ARGUMENTS, MAX_CAPABILITIES};
use crate::error::Result;
use crate::pop3::body::{read_body, read_listing};
use crate::pop3::capa::{Capabilities, apop_timestamp};
use crate::pop3::listing::{MAX_UID_LEN, parse_two_numbers, parse_uid_line};
use crate::pop3::reply::{Status, parse_status, response_code};
use crate::reply::Reply;
use crate::sasl::{self, Credentials, Mechanism, SaslClient};
use crate::smtp::data::DataEncoder;
use crate::smtp::envelope;
use crate::smtp::extensions::Extensions;
use crate::smtp::reply::read_reply;
use crate::trace::Tracer;
use crate::transport::{Connection, MAX_LINE, ScriptedStream};

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// Every target, by name: what the corpus replay test iterates over, and
/// what `fuzz/fuzz_targets/` must have one file for.
pub const TARGETS: &[(&str, Target)] = &[
    ("pop3_status", pop3_status),
    ("pop3_capa", pop3_capa),
    ("pop3_listing", pop3_listing),
    ("pop3_body", pop3_body),
    ("smtp_reply", smtp_reply),
    ("smtp_extensions", smtp_extensions),
    ("sasl", sasl),
    ("smtp_envelope", smtp_envelope),
    ("smtp_data", smtp_data),
];

/// Lines accepted in a CAPA listing here (the client's own limit is private
/// to it; any bound shows the same behaviour).
const CAPA_LINES: usize = 1024;
/// Lines accepted in a LIST/UIDL listing here: small, so the limit itself
/// is reached by short inputs.
const LISTING_LINES: usize = 64;
/// Replies read from one SMTP input.
const SMTP_REPLIES: usize = 16;

/// Read sizes chosen by the input: the first byte's low two bits say how
/// many of the following bytes are sizes (each 1 to 256); no sizes means
/// every read takes all that is left. Returns the sizes and the rest.
pub fn split_chunks(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let Some((&first, rest)) = data.split_first() else { return (Vec::new(), data) };
    let count = usize::from(first & 3).min(rest.len());
    let (sizes, rest) = rest.split_at(count);
    (sizes.iter().map(|&b| usize::from(b) + 1).collect(), rest)
}

fn connection(bytes: &[u8], chunks: Vec<usize>) -> Connection {
    Connection::scripted(ScriptedStream::new(bytes.to_vec(), chunks), Tracer::default())
}

/// An error as text, so results of two reads can be compared.
fn outcome<T>(r: Result<T>) -> std::result::Result<T, String> {
    r.map_err(|e| e.to_string())
}

// ---- POP3 ----

/// A POP3 status line, its response code, and a greeting's APOP timestamp.
pub fn pop3_status(data: &[u8]) {
    match parse_status(data) {
        Ok(Status::Ok(text)) => {
            assert!(data.starts_with(b"+OK"));
            assert_eq!(text, String::from_utf8_lossy(data.get(4..).unwrap_or_default()));
        }
        Ok(Status::Err(reply)) => {
            assert!(data.starts_with(b"-ERR"));
            assert_eq!(reply.text, String::from_utf8_lossy(data));
            assert_eq!(reply.code, None);
            if let Some(code) = &reply.response_code {
                assert!(reply.text.contains('[') && reply.text.contains(']'));
                assert_valid_response_code(code);
            }
        }
        Ok(Status::Continue(payload)) => {
            assert!(data.starts_with(b"+"));
            assert!(payload.len() + 2 >= data.len());
        }
        Err(e) => {
            // The error quotes the line shortened: never the whole of a huge one.
            assert!(e.to_string().len() < 1024, "{e}");
        }
    }
    let text = String::from_utf8_lossy(data);
    if let Some(code) = response_code(&text) {
        assert_valid_response_code(&code);
    }
    if let Some(stamp) = apop_timestamp(&text) {
        assert!(stamp.starts_with('<') && stamp.ends_with('>') && stamp.len() <= 256, "{stamp:?}");
        assert!(stamp.contains('@'));
        assert!(text.contains(&stamp));
    }
}

fn assert_valid_response_code(code: &str) {
    assert!(!code.is_empty() && code.len() <= 64, "{code:?}");
    assert!(code.bytes().all(|b| b.is_ascii_graphic() && b != b']' && !b.is_ascii_lowercase()), "{code:?}");
}

/// A CAPA listing read into a capability set and its typed view.
pub fn pop3_capa(data: &[u8]) {
    let (chunks, script) = split_chunks(data);
    let read = |chunks| {
        let mut conn = connection(script, chunks);
        let mut set = CapabilitySet::default();
        let r = read_listing(&mut conn, CAPA_LINES, |line| {
            set.add_line(&String::from_utf8_lossy(line));
            Ok(())
        });
        (outcome(r), set)
    };
    let (result, set) = read(chunks);
    assert_eq!((result.clone(), set.clone()), read(Vec::new()), "the read sizes changed the CAPA listing");
    assert!(set.len() <= MAX_CAPABILITIES);
    for (name, args) in set.iter() {
        assert!(!name.is_empty() && !name.bytes().any(|b| b.is_ascii_lowercase() || b.is_ascii_whitespace()));
        assert!(args.len() <= MAX_ARGUMENTS);
        assert!(args.iter().all(|a| !a.is_empty() && !a.bytes().any(|b| b.is_ascii_whitespace())));
        assert!(set.has(name) && set.has(&name.to_ascii_lowercase()));
    }
    let caps = Capabilities::from_set(set);
    let _ = (caps.top(), caps.uidl(), caps.user(), caps.pipelining(), caps.stls(), caps.resp_codes());
    let _ = (caps.auth_resp_code(), caps.utf8(), caps.sasl(), caps.implementation());
    for m in Mechanism::ALL {
        if caps.sasl_mechanism(m) {
            assert!(caps.sasl());
        }
    }
}

/// LIST and UIDL lines, one at a time and as whole listings.
pub fn pop3_listing(data: &[u8]) {
    let (chunks, script) = split_chunks(data);
    let read = |chunks| {
        let mut conn = connection(script, chunks);
        let mut lines = Vec::new();
        let r = read_listing(&mut conn, LISTING_LINES, |line| {
            lines.push(line.to_vec());
            Ok(())
        });
        (outcome(r), lines)
    };
    let (result, lines) = read(chunks);
    assert_eq!((result.clone(), lines.clone()), read(Vec::new()), "the read sizes changed the listing");
    assert!(lines.len() <= LISTING_LINES);
    if script.len() < MAX_LINE {
        assert_eq!(
            result.is_ok().then_some(&lines),
            listing_model(script).as_ref(),
            "the listing disagrees with the model"
        );
    }
    // Each line of the input, and each line the listing gave.
    for line in lines.iter().map(Vec::as_slice).chain(script.split(|b| *b == b'\n')) {
        listing_line(line);
    }
}

/// A listing read line by line: lines up to the "." line, CRLF or LF taken
/// off, a leading dot taken off; `None` if no "." line comes or there are
/// too many lines.
fn listing_model(script: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut lines = Vec::new();
    for line in script.split_inclusive(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\n")?;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line == b"." {
            return Some(lines);
        }
        if lines.len() == LISTING_LINES {
            return None;
        }
        lines.push(line.strip_prefix(b".").unwrap_or(line).to_vec());
    }
    None
}

fn listing_line(line: &[u8]) {
    if let Ok((number, size)) = parse_two_numbers(&String::from_utf8_lossy(line), "LIST") {
        assert_eq!(parse_two_numbers(&format!("{number} {size}"), "LIST").unwrap(), (number, size));
    }
    if let Ok((number, uid)) = parse_uid_line(line) {
        assert!(!uid.is_empty() && uid.len() <= MAX_UID_LEN && uid.bytes().all(|b| b.is_ascii_graphic()));
        assert_eq!(parse_uid_line(format!("{number} {uid}").as_bytes()).unwrap(), (number, uid));
    }
}

/// The multi-line body decoder: the same body read in different sizes, and
/// a line-by-line model of dot-unstuffing, must all agree.
pub fn pop3_body(data: &[u8]) {
    let (chunks, script) = split_chunks(data);
    let chunked = decode_body(script, chunks);
    let whole = decode_body(script, Vec::new());
    assert_eq!(chunked, whole, "the read sizes changed the body");
    assert_eq!(whole.as_ref().ok(), unstuff_model(script).as_ref(), "the decoder disagrees with the model");
}

fn decode_body(script: &[u8], chunks: Vec<usize>) -> std::result::Result<Vec<u8>, String> {
    let mut conn = connection(script, chunks);
    let mut out = Vec::new();
    let r = read_body(&mut conn, &mut |chunk| {
        out.extend_from_slice(chunk);
        Ok(())
    });
    outcome(r).map(|_| out)
}

/// RFC 1939 section 3 read line by line: the body up to the "." line, with
/// a leading dot taken off every other line; `None` if no "." line comes.
fn unstuff_model(script: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for line in script.split_inclusive(|b| *b == b'\n') {
        if !line.ends_with(b"\n") {
            return None;
        }
        if line == b".\r\n" || line == b".\n" {
            return Some(out);
        }
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    None
}

// ---- SMTP ----

/// SMTP replies, multi-line or not, with or without enhanced status codes
/// (the first byte after the read sizes says which).
pub fn smtp_reply(data: &[u8]) {
    let (chunks, rest) = split_chunks(data);
    let Some((&flags, script)) = rest.split_first() else { return };
    let enhanced = flags & 1 == 1;
    let read = |chunks| {
        let mut conn = connection(script, chunks);
        let mut replies = Vec::new();
        for _ in 0..SMTP_REPLIES {
            let r = outcome(read_reply(&mut conn, enhanced));
            let failed = r.is_err();
            replies.push(r);
            if failed {
                break;
            }
        }
        replies
    };
    let replies = read(chunks);
    assert_eq!(replies, read(Vec::new()), "the read sizes changed the replies");
    for reply in replies.iter().filter_map(|r| r.as_ref().ok()) {
        check_reply(reply, enhanced);
    }
}

fn check_reply(reply: &Reply, enhanced: bool) {
    assert!((200..600).contains(&reply.code), "{}", reply.code);
    assert!(!reply.lines.is_empty());
    if let Some(e) = &reply.enhanced_code {
        assert!(enhanced);
        let parts: Vec<&str> = e.split('.').collect();
        assert_eq!(parts.len(), 3, "{e:?}");
        assert_eq!(parts[0], (reply.code / 100).to_string());
        assert!(parts.iter().all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())));
    }
    let server = reply.to_server_reply();
    assert_eq!(server.code, Some(reply.code));
    assert!(server.text.starts_with(&reply.code.to_string()));
    assert_eq!(server.enhanced_code, reply.enhanced_code);
    assert_eq!(reply.is_positive(), reply.code < 400);
    let _ = reply.text();
}

/// The extensions of an EHLO reply: the input's lines after the first.
pub fn smtp_extensions(data: &[u8]) {
    let lines: Vec<String> = data.split(|b| *b == b'\n').map(|l| String::from_utf8_lossy(l).into_owned()).collect();
    let ext = Extensions::from_ehlo_lines(&lines);
    assert!(ext.ehlo);
    assert!(ext.set().len() <= MAX_CAPABILITIES && ext.set().len() < lines.len().max(1));
    assert!(ext.auth_mechanisms().len() <= MAX_ARGUMENTS);
    let _ = (ext.size(), ext.eight_bit_mime(), ext.smtputf8(), ext.pipelining(), ext.dsn(), ext.chunking());
    let _ = (ext.enhanced_status_codes(), ext.starttls());
    for m in Mechanism::ALL {
        if ext.auth(m) {
            assert!(ext.auth_mechanisms().iter().any(|a| a.eq_ignore_ascii_case(m.name())));
        }
    }
}

/// The SASL client: a mechanism, a user name and a secret, then server
/// challenges (base64, one per line) answered in turn.
///
/// Input: mechanism byte, user name line, secret line, challenge lines.
pub fn sasl(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    let mut lines = rest.split(|b| *b == b'\n');
    let user = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let secret = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let sasl_mechanisms: Vec<Mechanism> = Mechanism::ALL.into_iter().filter(|m| m.is_sasl()).collect();
    let mechanism = sasl_mechanisms[usize::from(selector >> 1) % sasl_mechanisms.len()];
    let with_initial_response = selector & 1 == 1;

    if sasl::check_apop_user(&user).is_ok() {
        assert!(!user.is_empty() && !user.chars().any(|c| c == ' ' || c.is_control()), "APOP took {user:?}");
    }

    let client = SaslClient::new(mechanism, Credentials { user: &user, secret: &secret });
    let injects = mechanism.is_oauth() && (user.contains('\x01') || secret.contains('\x01'));
    // SCRAM: -PLUS needs a TLS channel to bind to, and SASLprep refuses
    // some user names and passwords.
    let scram_refuses = mechanism.is_plus() || (mechanism.is_scram() && sasl::scram::prepare(&user, &secret).is_err());
    let Ok(mut client) = client else {
        assert!(injects || scram_refuses, "{} refused a client without cause", mechanism.name());
        return;
    };
    assert!(!injects, "{} accepted a \\x01 that injects a field", mechanism.name());
    assert!(!scram_refuses, "{} accepted what SCRAM cannot use", mechanism.name());

    let mut responses = Vec::new();
    if with_initial_response {
        responses.extend(client.initial_response());
    }
    for line in lines.take(8) {
        let challenge = match sasl::decode(line) {
            Ok(decoded) => {
                assert_eq!(sasl::decode(sasl::encode(&decoded).as_bytes()).unwrap(), decoded);
                decoded
            }
            Err(_) => line.to_vec(),
        };
        match client.respond(&challenge) {
            Ok(r) => responses.push(r),
            Err(_) => break,
        }
    }
    if let Some(first) = responses.first() {
        check_first_response(mechanism, &user, &secret, first);
    }
}

fn check_first_response(mechanism: Mechanism, user: &str, secret: &str, response: &[u8]) {
    match mechanism {
        Mechanism::Plain => assert_eq!(response, [b"\0", user.as_bytes(), b"\0", secret.as_bytes()].concat()),
        Mechanism::Login => assert_eq!(response, user.as_bytes()),
        Mechanism::CramMd5 => {
            let digest = response.strip_prefix(format!("{user} ").as_bytes()).expect("CRAM-MD5 starts with the user");
            assert!(digest.len() == 32 && digest.iter().all(|b| b.is_ascii_hexdigit()));
        }
        // Exactly the fields the mechanism defines: nothing in the user
        // name or token adds one.
        Mechanism::XOAuth2 => {
            let fields: Vec<&[u8]> = response.split(|b| *b == 1).collect();
            assert_eq!(fields.len(), 4);
            assert_eq!(fields[0], [b"user=", user.as_bytes()].concat());
            assert_eq!(fields[1], [b"auth=Bearer ", secret.as_bytes()].concat());
        }
        Mechanism::OAuthBearer => {
            let fields: Vec<&[u8]> = response.split(|b| *b == 1).collect();
            assert_eq!(fields.len(), 4);
            let gs2 = fields[0].strip_prefix(b"n,a=").and_then(|f| f.strip_suffix(b",")).expect("a gs2 header");
            assert!(!gs2.contains(&b','), "an unescaped comma in the authzid");
            assert_eq!(fields[1], [b"auth=Bearer ", secret.as_bytes()].concat());
        }
        // The gs2 header of a client without binding, then the escaped
        // user name: nothing in it ends its attribute.
        Mechanism::ScramSha1 | Mechanism::ScramSha256 => {
            let text = std::str::from_utf8(response).expect("SCRAM messages are UTF-8");
            let bare = text.strip_prefix("n,,n=").expect("a gs2 header and a user name");
            let (name, nonce) = bare.rsplit_once(",r=").expect("a nonce");
            assert!(!name.contains(',') && nonce.len() == 32);
        }
        Mechanism::ScramSha1Plus | Mechanism::ScramSha256Plus => unreachable!("refused without a channel"),
        Mechanism::User | Mechanism::Apop => unreachable!("not SASL"),
    }
}

/// The envelope derived from a message's headers, and the message as sent.
pub fn smtp_envelope(data: &[u8]) {
    let Ok((env, sent)) = envelope::derive(data) else { return };
    assert!(!env.recipients.is_empty());
    for (i, r) in env.recipients.iter().enumerate() {
        assert!(!env.recipients[..i].iter().any(|o| o.eq_ignore_ascii_case(r)), "{r:?} twice");
    }
    assert!(sent.len() <= data.len());
    // Nothing a header parser reads as Bcc is sent (spaces before the colon
    // are RFC 5322's obsolete syntax; other bytes make another name).
    if let Ok((headers, _)) = mailparse::parse_headers(&sent) {
        for h in headers {
            assert!(
                !h.get_key_ref().trim_end_matches([' ', '\t', '\r']).eq_ignore_ascii_case("bcc"),
                "a Bcc header is sent: {:?}",
                h.get_key_ref()
            );
        }
    }
}

/// The DATA encoder, in chunks of input-chosen sizes, read back by POP3's
/// body decoder in other sizes: the message with CRLF line ends (and a
/// final CRLF) must come back, and the encoding must not depend on the
/// chunking.
///
/// Input: encoder chunk sizes and reader read sizes (as for
/// [`split_chunks`], one after the other), then the message.
pub fn smtp_data(data: &[u8]) {
    let (encode_sizes, rest) = split_chunks(data);
    let (read_sizes, message) = split_chunks(rest);

    let encoded = encode_data(message, &encode_sizes);
    assert_eq!(encoded, encode_data(message, &[]), "the chunk sizes changed the encoding");
    check_data_encoding(&encoded);

    let mut conn = connection(&encoded, read_sizes);
    let mut decoded = Vec::new();
    read_body(&mut conn, &mut |chunk| {
        decoded.extend_from_slice(chunk);
        Ok(())
    })
    .expect("the encoding reads back as a body");
    assert!(conn.buffered().is_empty(), "bytes after the terminator");
    assert_eq!(decoded, crlf_lines(message), "the round trip changed the message");
}

fn encode_data(message: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut encoder = DataEncoder::new();
    let mut out = Vec::new();
    let mut rest = message;
    let mut i = 0;
    while !rest.is_empty() {
        let n = if sizes.is_empty() { rest.len() } else { sizes[i % sizes.len()].min(rest.len()) };
        let (piece, tail) = rest.split_at(n);
        encoder.encode(piece, &mut out);
        rest = tail;
        i += 1;
    }
    encoder.finish(&mut out);
    out
}

/// What goes on the wire: CR and LF only as CRLF, a dot at a line start
/// only doubled, and the "." line only at the end.
fn check_data_encoding(encoded: &[u8]) {
    let body = encoded.strip_suffix(b".\r\n").expect("the terminator");
    assert!(body.is_empty() || body.ends_with(b"\r\n"));
    for line in body.split_inclusive(|b| *b == b'\n') {
        let text = line.strip_suffix(b"\r\n").expect("lines end in CRLF");
        assert!(!text.contains(&b'\r') && !text.contains(&b'\n'));
        assert!(!text.starts_with(b".") || text.starts_with(b".."), "an unstuffed dot");
    }
}

/// `message` with every line end (CRLF, bare LF, bare CR) made CRLF and a
/// CRLF after a last line that has none.
fn crlf_lines(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 2);
    let mut i = 0;
    while i < message.len() {
        match message[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                i += if message.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
            }
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}
