"""README's Python POP3 snippet, run as written against Dovecot: it must
fetch every message of the mailbox byte-exact (into N.eml files, or, for a
snippet that calls sync(), into its Maildir with LF line ends).

Only what cannot be the same here is replaced: the server name (with the
test port and CA) and the user; the password is the test password.
"""

from __future__ import annotations

import re

import mailtls
from conftest import REPO, user

README_USER = user(69)


def readme_pop3_snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    snippet = next(b for b in blocks if "mailtls.POP3(" in b)
    assert 'mailtls.POP3("pop.example.org")' in snippet and 'pop.login("alice", password)' in snippet
    return snippet


def test_readme_snippet_fetches_every_message_byte_exact(server, tmp_path, monkeypatch):
    messages = [
        b"Subject: one\n\nfirst\n",
        b"Subject: dots\n\n.leading dot\n.\nafter a lone dot\n",
        b"Subject: 8bit\n\n\xe9t\xe9\nno final newline",
    ]
    served = server.seed(README_USER, messages)
    code = readme_pop3_snippet()
    code = code.replace(
        'mailtls.POP3("pop.example.org")',
        f"mailtls.POP3({server.host!r}, {server.port}, ca_file={server.ca!r})",
    ).replace('pop.login("alice", password)', f"pop.login({README_USER!r}, password)")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"mailtls": mailtls, "password": server.password})
    if ".sync(" in code:
        maildirs = [d for d in tmp_path.iterdir() if (d / "new").is_dir()]
        assert len(maildirs) == 1, "the snippet syncs into one Maildir"
        files = [f.read_bytes() for f in (maildirs[0] / "new").iterdir()]
        assert sorted(files) == sorted(m.replace(b"\r\n", b"\n") for m in served)
        return
    for number, expected in enumerate(served, start=1):
        assert (tmp_path / f"{number}.eml").read_bytes() == expected
    assert len(list(tmp_path.iterdir())) == len(messages)
