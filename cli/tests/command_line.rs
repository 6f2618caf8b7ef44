//! What `mailtls` refuses or says before it connects anywhere: no servers
//! needed.

mod common;

use common::mailtls;

#[test]
fn a_password_in_the_url_is_refused_with_exit_2_and_not_repeated() {
    let run = mailtls(&["check", "pop3s://alice:Secret-In-Url@127.0.0.1:9"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("the URL contains a password"), "{run:?}");
    assert!(!run.all().contains("Secret-In-Url"), "{run:?}");
}

#[test]
fn without_a_password_and_a_terminal_it_says_how_to_give_one() {
    let run = mailtls(&["list", "pop3s://alice@127.0.0.1:9"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("MAILTLS_PASSWORD"), "{run:?}");
}

#[test]
fn fetch_needs_a_maildir_a_pop3_url_and_a_user_and_there_is_no_password_option() {
    assert_eq!(mailtls(&["fetch", "pop3s://alice@127.0.0.1:9"], None).code, 2);
    for url in ["smtps://alice@127.0.0.1:9", "pop3s://127.0.0.1:9"] {
        let run = mailtls(&["fetch", url, "--maildir", "/nonexistent/never-made"], None);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("fetch "), "{run:?}");
    }
    assert_eq!(mailtls(&["--password", "x", "check", "pop3s://127.0.0.1:9"], None).code, 2);
}

#[test]
fn the_help_documents_commands_and_exit_codes() {
    let run = mailtls(&["--help"], None);
    assert_eq!(run.code, 0, "{run:?}");
    for text in [
        "check",
        "list",
        "fetch",
        "send",
        "MAILTLS_PASSWORD",
        "Exit codes:",
        "3  connection or TLS",
        "5  server refusal",
    ] {
        assert!(run.stdout.contains(text), "{text:?} missing:\n{}", run.stdout);
    }
}

#[test]
fn a_closed_port_is_a_connection_failure() {
    // Port 9 (discard) on loopback: nothing listens there on a test machine.
    let run = mailtls(&["--timeout", "5", "check", "pop3s://127.0.0.1:9"], None);
    assert_eq!(run.code, 3, "{run:?}");
}
