"""SCRAM through the binding against a Dovecot 2.3 that offers SCRAM-SHA-1
and SCRAM-SHA-256 (no -PLUS variant), for POP3 and for SMTP AUTH (Postfix
through Dovecot's SASL): forcing each mechanism, the automatic order
(SCRAM-SHA-256 first), refusals, and a password SCRAM's SASLprep refuses.

Users scram01 (password stored only as a SCRAM-SHA-256 hash, so SCRAM-SHA-1
cannot work for it) and scram02 (stored in plain); nothing changes a
mailbox. The server set is the second, SCRAM-offering one
(``MAILTLS_DOVECOT_SCRAM=1 bash tests/servers/dovecot.sh start DIR``, then
``bash tests/servers/postfix.sh start DIR``), given by the
MAILTLS_TEST_SCRAM_* variables tests/run.sh exports from DIR/env.sh; these
tests fail (never skip) when one is missing.
"""

from __future__ import annotations

import base64
import os

import pytest

import mailtls
from mailtls import Result

SCRAM_REQUIRED = (
    "MAILTLS_TEST_HOST",
    "MAILTLS_TEST_PASSWORD",
    "MAILTLS_TEST_SCRAM_POP3_PORT",
    "MAILTLS_TEST_SCRAM_POP3S_PORT",
    "MAILTLS_TEST_SCRAM_SUBMISSION_PORT",
    "MAILTLS_TEST_SCRAM_SMTPS_PORT",
    "MAILTLS_TEST_SCRAM_CA",
)

WRONG = "not-the-password-8273"
# A control character (U+0001): SASLprep prohibits it.
CTL_PASSWORD = "ctl\x01secret-4711"
SCRAM = ["SCRAM-SHA-256", "SCRAM-SHA-1"]
PLUS = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"]
# (user, mechanism as forced, the name the trace shows) that log in.
FORCED = [
    ("scram02", "SCRAM-SHA-256", "SCRAM-SHA-256"),
    ("scram02", "SCRAM-SHA-1", "SCRAM-SHA-1"),
    ("scram01", "SCRAM-SHA-256", "SCRAM-SHA-256"),
    ("scram02", "scram-sha-1", "SCRAM-SHA-1"),
]


class Trace(list):
    """A trace callback keeping (kind, data) pairs."""

    def __call__(self, kind, data):
        self.append((kind, data))

    def commands(self) -> list:
        return [d for k, d in self if k == "command"]

    def auth_commands(self) -> list:
        return [c for c in self.commands() if c.upper().startswith(b"AUTH")]

    def everything(self) -> bytes:
        return b"\n".join(d for _, d in self)

    def chose(self, mechanism: str) -> bool:
        return ("info", f"authenticating with {mechanism}".encode()) in self


class ScramServers:
    """The SCRAM-offering Dovecot and Postfix of the MAILTLS_TEST_SCRAM_*
    variables."""

    def __init__(self, env: dict) -> None:
        self.host = env["MAILTLS_TEST_HOST"]
        self.password = env["MAILTLS_TEST_PASSWORD"]
        self.ca = env["MAILTLS_TEST_SCRAM_CA"]
        self.pop3_port = int(env["MAILTLS_TEST_SCRAM_POP3_PORT"])
        self.pop3s_port = int(env["MAILTLS_TEST_SCRAM_POP3S_PORT"])
        self.submission_port = int(env["MAILTLS_TEST_SCRAM_SUBMISSION_PORT"])
        self.smtps_port = int(env["MAILTLS_TEST_SCRAM_SMTPS_PORT"])

    def pop3s(self, **kw) -> mailtls.POP3:
        return mailtls.POP3(self.host, self.pop3s_port, security="tls", ca_file=self.ca,
                            timeout=10.0, **kw)

    def pop3_stls(self, **kw) -> mailtls.POP3:
        return mailtls.POP3(self.host, self.pop3_port, security="starttls", ca_file=self.ca,
                            timeout=10.0, **kw)

    def submission(self, **kw) -> mailtls.SMTP:
        return mailtls.SMTP(self.host, self.submission_port, security="starttls",
                            ca_file=self.ca, timeout=10.0, **kw)

    def smtps(self, **kw) -> mailtls.SMTP:
        return mailtls.SMTP(self.host, self.smtps_port, security="tls", ca_file=self.ca,
                            timeout=10.0, **kw)


@pytest.fixture(scope="module")
def scram() -> ScramServers:
    missing = [name for name in SCRAM_REQUIRED if not os.environ.get(name)]
    if missing:
        pytest.fail(
            f"the SCRAM test servers are not configured: {', '.join(missing)} unset. "
            "Start them with `MAILTLS_DOVECOT_SCRAM=1 bash tests/servers/dovecot.sh start DIR; "
            "bash tests/servers/postfix.sh start DIR` and export MAILTLS_TEST_SCRAM_* from "
            "DIR/env.sh as tests/run.sh does.",
            pytrace=False,
        )
    return ScramServers(dict(os.environ))


def assert_no_secret(trace: Trace, *passwords: str) -> None:
    everything = trace.everything()
    for pw in passwords:
        assert pw.encode() not in everything
        assert base64.b64encode(pw.encode()) not in everything
    # The client-final message carries the proof: redacted whole.
    assert b",p=" not in everything


def assert_scram_login(trace: Trace, name: str) -> None:
    assert trace.chose(name), trace
    assert trace.auth_commands() == [f"AUTH {name} <redacted>".encode()]
    commands = trace.commands()
    after = commands[commands.index(trace.auth_commands()[0]) + 1:]
    # The client-final message, then the empty answer to the server's
    # signature.
    assert after[:2] == [b"<redacted>", b""], commands


# --- POP3 ----------------------------------------------------------------------


@pytest.mark.parametrize("user,mechanism,name", FORCED)
def test_pop3_forced_scram_logs_in(scram, user, mechanism, name):
    trace = Trace()
    with scram.pop3s(trace=trace) as pop:
        pop.login(user, scram.password, mechanism)
        pop.stat()
    assert_scram_login(trace, name)
    assert_no_secret(trace, scram.password)


def test_pop3_scram_sha_1_fails_for_a_sha_256_only_user(scram):
    trace = Trace()
    with scram.pop3s(trace=trace) as pop:
        with pytest.raises(mailtls.AuthError) as info:
            pop.login("scram01", scram.password, "SCRAM-SHA-1")
        assert info.value.code == Result.AUTH_FAILED
        assert info.value.reply and info.value.reply.startswith("-ERR")
        # The session goes on.
        pop.login("scram01", scram.password, "SCRAM-SHA-256")
        pop.stat()
    assert trace.auth_commands() == [b"AUTH SCRAM-SHA-1 <redacted>", b"AUTH SCRAM-SHA-256 <redacted>"]
    assert_no_secret(trace, scram.password)


@pytest.mark.parametrize("mechanism", SCRAM + [None])
@pytest.mark.parametrize("user", ["scram01", "scram02"])
def test_pop3_wrong_password_is_auth_failed(scram, user, mechanism):
    trace = Trace()
    with scram.pop3s(trace=trace) as pop:
        with pytest.raises(mailtls.AuthError) as info:
            pop.login(user, WRONG, mechanism)
        e = info.value
        assert e.code == Result.AUTH_FAILED
        assert WRONG not in e.message and WRONG not in repr(e)
        # SCRAM-SHA-1 never works for scram01.
        pop.login(user, scram.password, "SCRAM-SHA-256" if user == "scram01" else mechanism)
    # A refused password is not tried again with another mechanism.
    assert trace.auth_commands()[0] == f"AUTH {mechanism or 'SCRAM-SHA-256'} <redacted>".encode()
    assert len(trace.auth_commands()) == 2
    assert_no_secret(trace, WRONG, scram.password)


@pytest.mark.parametrize("transport", ["tls", "stls"])
@pytest.mark.parametrize("user", ["scram01", "scram02"])
def test_pop3_automatic_choice_is_scram_sha_256(scram, user, transport):
    trace = Trace()
    connect = scram.pop3s if transport == "tls" else scram.pop3_stls
    with connect(trace=trace) as pop:
        pop.login(user, scram.password)
        pop.stat()
    assert (b"STLS" in trace.commands()) == (transport == "stls")
    # Not -PLUS (Dovecot 2.3 offers none), not PLAIN.
    assert_scram_login(trace, "SCRAM-SHA-256")
    assert_no_secret(trace, scram.password)


def test_pop3_plus_variants_are_not_offered(scram):
    trace = Trace()
    with scram.pop3s(trace=trace) as pop:
        before = len(trace.commands())
        for mechanism in PLUS:
            with pytest.raises(mailtls.AuthError) as info:
                pop.login("scram02", scram.password, mechanism)
            assert info.value.code == Result.NO_COMMON_MECHANISM
        assert len(trace.commands()) == before  # nothing sent
        pop.login("scram02", scram.password, "SCRAM-SHA-256")
        pop.stat()


def test_pop3_saslprep_refuses_a_control_character(scram):
    trace = Trace()
    with scram.pop3s(trace=trace) as pop:
        before = len(trace.commands())
        for mechanism in SCRAM:
            with pytest.raises(mailtls.InvalidArgument) as info:
                pop.login("scram02", CTL_PASSWORD, mechanism)
            e = info.value
            assert e.code == Result.INVALID_ARGUMENT
            assert "secret-4711" not in e.message and "secret-4711" not in repr(e)
        assert len(trace.commands()) == before  # nothing sent
        # The automatic choice skips SCRAM: PLAIN carries it, and Dovecot
        # refuses the wrong password.
        with pytest.raises(mailtls.AuthError) as auth:
            pop.login("scram02", CTL_PASSWORD)
        assert auth.value.code == Result.AUTH_FAILED
        assert trace.auth_commands() == [b"AUTH PLAIN <redacted>"]
        pop.login("scram02", scram.password)
        pop.stat()
    assert b"secret-4711" not in trace.everything()


# --- SMTP ----------------------------------------------------------------------


@pytest.mark.parametrize("user,mechanism,name", FORCED)
def test_smtp_forced_scram_logs_in(scram, user, mechanism, name):
    trace = Trace()
    with scram.submission(trace=trace) as smtp:
        smtp.login(user, scram.password, mechanism)
        smtp.noop()
    assert b"STARTTLS" in trace.commands()
    assert_scram_login(trace, name)
    assert any(k == "reply" and d.startswith(b"235 ") for k, d in trace)
    assert_no_secret(trace, scram.password)


def test_smtp_scram_sha_1_fails_for_a_sha_256_only_user(scram):
    trace = Trace()
    with scram.submission(trace=trace) as smtp:
        with pytest.raises(mailtls.AuthError) as info:
            smtp.login("scram01", scram.password, "SCRAM-SHA-1")
        assert info.value.code == Result.AUTH_FAILED
        assert info.value.smtp_code == 535
        smtp.login("scram01", scram.password, "SCRAM-SHA-256")
        smtp.noop()
    assert trace.auth_commands() == [b"AUTH SCRAM-SHA-1 <redacted>", b"AUTH SCRAM-SHA-256 <redacted>"]
    assert_no_secret(trace, scram.password)


@pytest.mark.parametrize("mechanism", SCRAM + [None])
@pytest.mark.parametrize("user", ["scram01", "scram02"])
def test_smtp_wrong_password_is_auth_failed(scram, user, mechanism):
    trace = Trace()
    with scram.submission(trace=trace) as smtp:
        with pytest.raises(mailtls.AuthError) as info:
            smtp.login(user, WRONG, mechanism)
        e = info.value
        assert e.code == Result.AUTH_FAILED and e.smtp_code == 535 and e.permanent
        assert WRONG not in e.message and WRONG not in repr(e)
        # SCRAM-SHA-1 never works for scram01.
        smtp.login(user, scram.password, "SCRAM-SHA-256" if user == "scram01" else mechanism)
    # Refused credentials are not retried with another mechanism.
    assert trace.auth_commands()[0] == f"AUTH {mechanism or 'SCRAM-SHA-256'} <redacted>".encode()
    assert len(trace.auth_commands()) == 2
    assert_no_secret(trace, WRONG, scram.password)


@pytest.mark.parametrize("transport", ["submission", "smtps"])
@pytest.mark.parametrize("user", ["scram01", "scram02"])
def test_smtp_automatic_choice_is_scram_sha_256(scram, user, transport):
    trace = Trace()
    connect = scram.submission if transport == "submission" else scram.smtps
    with connect(trace=trace) as smtp:
        smtp.login(user, scram.password)
        smtp.noop()
    assert (b"STARTTLS" in trace.commands()) == (transport == "submission")
    assert_scram_login(trace, "SCRAM-SHA-256")
    assert_no_secret(trace, scram.password)


def test_smtp_plus_variants_are_not_offered(scram):
    trace = Trace()
    with scram.submission(trace=trace) as smtp:
        before = len(trace.commands())
        for mechanism in PLUS:
            with pytest.raises(mailtls.AuthError) as info:
                smtp.login("scram02", scram.password, mechanism)
            assert info.value.code == Result.NO_COMMON_MECHANISM
        assert len(trace.commands()) == before
        smtp.login("scram02", scram.password, "SCRAM-SHA-256")
        smtp.noop()


def test_smtp_saslprep_refuses_a_control_character(scram):
    trace = Trace()
    with scram.submission(trace=trace) as smtp:
        before = len(trace.commands())
        for mechanism in SCRAM:
            with pytest.raises(mailtls.InvalidArgument) as info:
                smtp.login("scram02", CTL_PASSWORD, mechanism)
            assert info.value.code == Result.INVALID_ARGUMENT
            assert "secret-4711" not in info.value.message
        assert len(trace.commands()) == before
        smtp.login("scram02", scram.password, "SCRAM-SHA-256")
        smtp.noop()
    assert b"secret-4711" not in trace.everything()
