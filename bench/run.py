#!/usr/bin/env python3
"""The mailtls benchmark driver (run it through bench/run.sh, which installs,
builds and starts the servers, then calls this with their env.sh loaded).

    python3 bench/run.py --state STATE --bin BINDIR [--quick] [--out FILE]

Seeds the mailboxes of the project's Dovecot (STATE/home), then measures,
scenario by scenario, each client in turn within every repetition (the
order rotates from one repetition to the next), each client a process of
its own:

  bulk     N messages of 2 KB over POP3S in one session (UIDL, then RETR)
  big      one large message over POP3S into a file
  huge     one very large message (RSS only; once, not repeated)
  outbox   N messages of 2 KB over one STARTTLS + AUTH submission session
  setup    connect + TLS + login + STAT + QUIT, many sessions
  sync     first sync of N x 2 KB into a fresh Maildir (tmpfs and disk),
           mailtls fetch vs mpop and getmail6; then a sync with nothing
           new vs the limit client's UIDL-only session

Every client prints the elapsed seconds of its measured part (from before
connect to after QUIT; process start, imports and reading the outbox are
outside it), except curl, whose time is its process's wall time (for
setup: curl's own time_total of STAT plus QUIT). CPU (user + sys) and peak
RSS come from os.wait4 on the client process. Prints one Markdown table and
the targets, and writes every raw figure as JSON.
"""

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

FULL = dict(
    bulk_messages=10_000, bulk_reps=15,
    big_mb=100, big_reps=11,
    huge_mb=1024,
    outbox_messages=1_000, outbox_reps=13,
    # Short repetitions, many of them: the clients alternate often, so a
    # drift in the machine's load (a 2-core machine shared with the
    # servers) falls on all of them alike.
    setup_sessions=20, setup_reps=21,
    # A first sync on disk takes seconds and varies a lot from run to run
    # (fsync on a virtual disk): fewer repetitions, each of every client.
    sync_messages=10_000, sync_reps=7, sync_again_reps=11,
    # getmail6 takes minutes for 10,000 messages (a RETR round trip and a
    # delivery process per message): in the first repetition only.
    sync_getmail_reps=1,
)
QUICK = dict(
    bulk_messages=500, bulk_reps=2,
    big_mb=10, big_reps=2,
    huge_mb=50,
    outbox_messages=100, outbox_reps=2,
    setup_sessions=10, setup_reps=2,
    sync_messages=500, sync_reps=2, sync_again_reps=2, sync_getmail_reps=1,
)

BULK_USER, BIG_USER, HUGE_USER, OUTBOX_USER, SETUP_USER = "user01", "user02", "user03", "user04", "user05"
SYNC_USER = "user06"
SETUP_MAILBOX = 20  # messages in the setup user's mailbox (what STAT counts)
MAIL_UID = MAIL_GID = 65534

# Display names, in table order.
LIMIT, MT_C, MT_PY, STDLIB, CURL = "limit", "mailtls C", "mailtls Python", "stdlib", "curl"
MT_C_LOOP = "mailtls C, send loop"  # outbox: one mailtls_smtp_send_bytes() per message
MT_PY_LOOP = "mailtls Python, send loop"  # outbox: one SMTP.send() per message
# The sync scenario's clients (command-line tools, each a process).
MT_CLI, MPOP, GETMAIL = "mailtls fetch", "mpop", "getmail6"
MT_CLI_BASE = "mailtls fetch (baseline)"  # --cli-baseline: another build, side by side
LIMIT_UIDL = "limit (UIDL only)"
SYNC_ROWS = ["sync_shm", "sync_disk", "sync_again"]
SYNC_ORDER = [LIMIT_UIDL, MT_CLI, MT_CLI_BASE, MPOP, GETMAIL]
NAMES = {
    "bulk": {STDLIB: "poplib"},
    "big": {STDLIB: "poplib"},
    "huge": {STDLIB: "poplib"},
    "outbox": {STDLIB: "smtplib"},
    "setup": {STDLIB: "poplib"},
    "setup_first": {STDLIB: "poplib"},
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- message generation --------------------------------------------------------------

WORDS = None


def word_pool(rng):
    global WORDS
    if WORDS is None:
        letters = "etaoinshrdlcumwfgypbvkjxqz"
        weights = [12, 9, 8, 7.5, 7, 6.7, 6.3, 6, 6, 4.3, 4, 2.8, 2.8, 2.4, 2.4, 2.2, 2, 2, 1.9, 1.5, 1, 0.8, 0.2, 0.2, 0.1, 0.1]
        WORDS = ["".join(rng.choices(letters, weights, k=rng.choice([2, 3, 3, 4, 4, 5, 5, 6, 7, 8, 9, 11])))
                 for _ in range(3000)]
    return WORDS


def line_pool(rng, n=4000):
    """Text lines of realistic length (up to 76 characters, mostly 60-76),
    none starting with a dot."""
    words = word_pool(rng)
    lines = []
    for _ in range(n):
        target = rng.randint(58, 76)
        line = rng.choice(words).capitalize()
        while True:
            w = rng.choice(words)
            if len(line) + 1 + len(w) > target:
                break
            line += " " + w
        lines.append(line + rng.choice([".", ",", "", "", ""]))
    return lines


def small_message(rng, lines, i, sender, rcpt, size=2048, eol="\n"):
    date = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(minutes=i)
    head = [
        "Return-Path: <%s>" % sender,
        "Delivered-To: %s" % rcpt,
        "From: Bench Sender <%s>" % sender,
        "To: <%s>" % rcpt,
        "Subject: Benchmark message %d: %s" % (i, rng.choice(lines)[:40]),
        "Date: %s" % date.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        "Message-ID: <bench.%d.%d@localhost>" % (i, rng.randrange(10**9)),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "",
    ]
    out = eol.join(head) + eol
    while len(out) < size - 80:
        out += rng.choice(lines) + eol
    return out.encode("ascii")


def maildir_name(i, data, flags="S"):
    vsize = len(data) + data.count(b"\n") - data.count(b"\r\n")
    return "%d.M%dP%d.bench,S=%d,W=%d:2,%s" % (1700000000 + i, i, os.getpid(), len(data), vsize, flags), vsize


def clear_maildir(maildir):
    for sub in ("cur", "new", "tmp"):
        d = os.path.join(maildir, sub)
        os.makedirs(d, exist_ok=True)
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
    for name in os.listdir(maildir):  # Dovecot's index and uidlist
        p = os.path.join(maildir, name)
        if name.startswith("dovecot") and os.path.isfile(p):
            os.unlink(p)
    for root, dirs, files in os.walk(maildir):
        for n in dirs + files:
            os.chown(os.path.join(root, n), MAIL_UID, MAIL_GID)


def write_maildir_file(maildir, i, data):
    name, vsize = maildir_name(i, data)
    path = os.path.join(maildir, "cur", name)
    with open(path, "wb") as f:
        f.write(data)
    os.chown(path, MAIL_UID, MAIL_GID)
    return vsize


def seed_small(maildir, count, seed):
    rng = random.Random(seed)
    lines = line_pool(rng)
    clear_maildir(maildir)
    total = 0
    for i in range(1, count + 1):
        total += write_maildir_file(maildir, i, small_message(rng, lines, i, "sender@example.org", "user@localhost"))
    return total


def seed_large(maildir, megabytes, seed):
    """One message of about `megabytes` MiB (LF line ends, as Postfix and
    Dovecot store mail): a few headers, then 76-character text lines."""
    rng = random.Random(seed)
    lines = line_pool(rng)
    clear_maildir(maildir)
    target = megabytes * 1024 * 1024
    head = small_message(rng, lines, 1, "sender@example.org", "user@localhost", size=0)
    block = ("\n".join(rng.choice(lines) for _ in range(16000)) + "\n").encode()
    tmp = os.path.join(maildir, "tmp", "seed")
    size = lf = 0
    with open(tmp, "wb") as f:
        f.write(head)
        size, lf = len(head), head.count(b"\n")
        while size + len(block) <= target:
            f.write(block)
            size += len(block)
            lf += block.count(b"\n")
        rest = block[: block.rfind(b"\n", 0, max(1, target - size)) + 1]
        f.write(rest)
        size += len(rest)
        lf += rest.count(b"\n")
    vsize = size + lf
    name = "%d.M1P%d.bench,S=%d,W=%d:2,S" % (1700000000, os.getpid(), size, vsize)
    os.rename(tmp, os.path.join(maildir, "cur", name))
    os.chown(os.path.join(maildir, "cur", name), MAIL_UID, MAIL_GID)
    return vsize


def write_outbox(directory, count, sender, rcpt, seed):
    rng = random.Random(seed)
    lines = line_pool(rng)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    for i in range(1, count + 1):
        msg = small_message(rng, lines, i, sender, rcpt, eol="\r\n")
        # Only what a mail client's outbox holds: no Return-Path/Delivered-To.
        msg = b"\r\n".join(msg.split(b"\r\n")[2:])
        with open(os.path.join(directory, "%05d.eml" % i), "wb") as f:
            f.write(msg)


# ---- running one client ------------------------------------------------------------


class ClientFailed(Exception):
    pass


SKIPPED = object()  # what a client's run returns when it sits out a repetition


def run_process(argv, env, workdir, spawn, stdout_path=None):
    """Run argv under the spawn launcher (bench/c/spawn.c); return (stdout
    text, wall seconds, user s, sys s, peak RSS KiB) of the client process
    itself."""
    out_path = stdout_path or os.path.join(workdir, "stdout")
    err_path = os.path.join(workdir, "stderr")
    usage_path = os.path.join(workdir, "usage")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([spawn, usage_path] + argv, stdout=out, stderr=err, env=env,
                                stdin=subprocess.DEVNULL)
        rc = proc.wait()
    text = "" if stdout_path else open(out_path, encoding="utf-8", errors="replace").read()
    if rc != 0:
        raise ClientFailed("%s exited with %d: %s" % (
            " ".join(argv[:3]), rc, open(err_path, errors="replace").read()[-2000:]))
    u = json.load(open(usage_path))
    return text, u["wall"], u["cpu_user"], u["cpu_sys"], u["maxrss_kib"]


class Bench:
    def __init__(self, args):
        self.args = args
        self.cfg = dict(QUICK if args.quick else FULL)
        self.quick = args.quick
        self.state = args.state
        self.bin = args.bin
        e = os.environ
        self.host = e["MAILTLS_TEST_HOST"]
        self.pop3s = e["MAILTLS_TEST_POP3S_PORT"]
        self.submission = e["MAILTLS_TEST_SMTP_SUBMISSION_PORT"]
        self.ca = e["MAILTLS_TEST_CA"]
        self.pw = e["MAILTLS_TEST_PASSWORD"]
        self.home = e["MAILTLS_TEST_MAILDIR_ROOT"]
        self.work = tempfile.mkdtemp(prefix="run.", dir=self.state)
        # getmail6 runs as nobody (it refuses to deliver as root): it must
        # reach its directories under here.
        os.chmod(self.work, 0o755)
        self.disk = args.disk
        self.cli = args.cli
        self.cli_base = args.cli_baseline
        self.outbox_dir = os.path.join(self.work, "outbox")
        # Python clients: bytecode cached (in BINDIR/pycache, not in the
        # tree), so no run compiles its modules from source.
        self.stdenv = dict(os.environ)
        self.stdenv.pop("PYTHONDONTWRITEBYTECODE", None)
        self.stdenv["PYTHONPYCACHEPREFIX"] = os.path.join(self.bin, "pycache")
        self.stdenv["PYTHONPATH"] = os.path.join(HERE, "py")
        self.pyenv = dict(self.stdenv)
        self.pyenv["PYTHONPATH"] = args.binding + os.pathsep + os.path.join(HERE, "py")
        self.pyenv["MAILTLS_LIBRARY"] = args.library
        self.results = {}  # scenario -> client -> list of samples
        self.notes = []
        self.expected = {}

    # -- helpers --

    def maildir(self, user):
        return os.path.join(self.home, user, "Maildir")

    def pop_args(self, user):
        return [self.host, self.pop3s, self.ca, user, self.pw]

    def py(self, lib, mode, *args):
        # -S: no site module. This machine's site-packages hold .pth files
        # that import packages at every start (0.2 s of CPU, 10 MB of RSS);
        # the clients need only the standard library and PYTHONPATH.
        # -m: the client's bytecode comes from the cache too.
        return [sys.executable, "-S", "-m", "client", lib, mode] + list(args)

    def run(self, argv, env=None, stdout_path=None):
        return run_process(argv, env or os.environ, self.work, os.path.join(self.bin, "spawn"), stdout_path)

    def sample(self, scenario, client, argv, env=None, parse=True, check=None, stdout_path=None):
        text, wall, ut, st, rss = self.run(argv, env, stdout_path)
        s = {"wall": wall, "cpu_user": ut, "cpu_sys": st, "cpu": ut + st, "maxrss_kib": rss}
        if parse:
            s.update(json.loads(text.strip().splitlines()[-1]))
        else:
            s["elapsed"] = wall
        if check:
            check(s)
        self.results.setdefault(scenario, {}).setdefault(client, []).append(s)
        return s

    # -- seeding --

    def seed(self, only):
        c = self.cfg
        t0 = time.perf_counter()
        log("seeding the mailboxes for: %s" % ", ".join(only))
        if "bulk" in only:
            self.expected["bulk_bytes"] = seed_small(self.maildir(BULK_USER), c["bulk_messages"], 1)
        if "big" in only:
            self.expected["big_bytes"] = seed_large(self.maildir(BIG_USER), c["big_mb"], 2)
        if "huge" in only:
            self.expected["huge_bytes"] = seed_large(self.maildir(HUGE_USER), c["huge_mb"], 3)
        if "setup" in only:
            seed_small(self.maildir(SETUP_USER), SETUP_MAILBOX, 4)
        if "sync" in only:
            md = self.maildir(SYNC_USER)
            seed_small(md, c["sync_messages"], 6)
            cur = os.path.join(md, "cur")
            # What every client must save: the files as Dovecot holds them
            # (LF line ends), byte for byte.
            self.expected["sync_bytes"] = sum(os.path.getsize(os.path.join(cur, n)) for n in os.listdir(cur))
        if "outbox" in only:
            clear_maildir(self.maildir(OUTBOX_USER))
            write_outbox(self.outbox_dir, c["outbox_messages"], OUTBOX_USER + "@localhost",
                         OUTBOX_USER + "@localhost", 5)
        log("seeded in %.1f s" % (time.perf_counter() - t0))

    # -- scenario 1: bulk fetch --

    def curl_bulk_config(self, user, count):
        path = os.path.join(self.work, "curl-bulk.cfg")
        base = "pop3s://%s:%s/" % (self.host, self.pop3s)
        with open(path, "w") as f:
            common = 'cacert = "%s"\nuser = "%s:%s"\nsilent\nshow-error\n' % (self.ca, user, self.pw)
            f.write(common + 'url = "%s"\nrequest = "UIDL"\n' % base)
            f.write("next\n" + common)
            for n in range(1, count + 1):
                f.write('url = "%s%d"\n' % (base, n))
        return path

    def bulk(self):
        c = self.cfg
        n = c["bulk_messages"]
        args = self.pop_args(BULK_USER)
        cfg = self.curl_bulk_config(BULK_USER, n)
        want = self.expected["bulk_bytes"]

        def check(s):
            if s.get("messages", n) != n:
                raise ClientFailed("bulk: got %s messages, expected %d" % (s.get("messages"), n))
            if s.get("bytes", want) < want:
                raise ClientFailed("bulk: got %s bytes, expected %d" % (s["bytes"], want))

        clients = {
            LIMIT: lambda: self.sample("bulk", LIMIT, [self.bin + "/limit_pop3", "bulk"] + args, check=check),
            MT_C: lambda: self.sample("bulk", MT_C, [self.bin + "/mailtls_bench", "pop3-bulk"] + args, check=check),
            MT_PY: lambda: self.sample("bulk", MT_PY, self.py("mailtls", "pop3-bulk", *args), self.pyenv, check=check),
            STDLIB: lambda: self.sample("bulk", STDLIB, self.py("stdlib", "pop3-bulk", *args), self.stdenv, check=check),
            CURL: lambda: self.sample("bulk", CURL, ["curl", "-K", cfg], parse=False,
                                       stdout_path="/dev/null"),
        }
        # Warm-up: Dovecot builds its index on first access; curl's output is
        # checked once here (it reports no byte count of its own for POP3).
        log("bulk: warm-up")
        self.run([self.bin + "/limit_pop3", "bulk"] + args)
        out = os.path.join(self.work, "curl-bulk.out")
        self.run(["curl", "-K", cfg], stdout_path=out)
        got = os.path.getsize(out)
        os.unlink(out)
        if not want <= got <= want + 200 * (n + 1):  # + the UIDL listing
            raise ClientFailed("curl bulk: got %d bytes, expected about %d" % (got, want))
        self.interleave("bulk", clients, c["bulk_reps"])

    # -- scenario 2: one big message into a file --

    def file_clients(self, scenario, user, want, with_stdlib=True):
        args = self.pop_args(user)
        path = os.path.join(self.work, "message.eml")

        def check(s):
            size = os.path.getsize(path)
            os.unlink(path)
            if size != want:
                raise ClientFailed("%s: file has %d bytes, expected %d" % (scenario, size, want))
            s["file_bytes"] = size

        def curl():
            s = self.sample(scenario, CURL, ["curl", "-sS", "--cacert", self.ca, "-u", "%s:%s" % (user, self.pw),
                                             "pop3s://%s:%s/1" % (self.host, self.pop3s), "-o", path],
                            parse=False, check=check)
            return s

        clients = {
            LIMIT: lambda: self.sample(scenario, LIMIT, [self.bin + "/limit_pop3", "file"] + args + ["1", path], check=check),
            MT_C: lambda: self.sample(scenario, MT_C, [self.bin + "/mailtls_bench", "pop3-file"] + args + ["1", path], check=check),
            MT_PY: lambda: self.sample(scenario, MT_PY, self.py("mailtls", "pop3-file", *args, "1", path), self.pyenv, check=check),
            STDLIB: lambda: self.sample(scenario, STDLIB, self.py("stdlib", "pop3-file", *args, "1", path), self.stdenv, check=check),
            CURL: curl,
        }
        if not with_stdlib:
            del clients[STDLIB]
        return clients, args, path

    def big(self):
        clients, args, path = self.file_clients("big", BIG_USER, self.expected["big_bytes"])
        log("big: warm-up")
        self.run([self.bin + "/limit_pop3", "file"] + args + ["1", path])
        os.unlink(path)
        self.interleave("big", clients, self.cfg["big_reps"])

    def huge(self):
        clients, args, path = self.file_clients("huge", HUGE_USER, self.expected["huge_bytes"], with_stdlib=False)
        log("huge: warm-up")
        self.run([self.bin + "/limit_pop3", "file"] + args + ["1", path])
        os.unlink(path)
        self.notes.append("huge: one run per client, for peak RSS (poplib left out: it holds the "
                          "whole message as a list of lines, see the big message's RSS)")
        self.interleave("huge", clients, 1)

    # -- scenario 3: outbox --

    def wait_delivered(self, count, timeout=300):
        new = os.path.join(self.maildir(OUTBOX_USER), "new")
        spool = os.path.join(self.state, "postfix", "spool")
        t0 = time.perf_counter()
        while True:
            got = len(os.listdir(new))
            queued = sum(len(files) for q in ("incoming", "active", "deferred", "maildrop", "hold")
                         for _r, _d, files in os.walk(os.path.join(spool, q)))
            if got >= count and queued == 0:
                break
            if time.perf_counter() - t0 > timeout:
                raise ClientFailed("outbox: %d of %d delivered, %d queued after %d s" % (got, count, queued, timeout))
            time.sleep(0.05)
        if got != count:
            raise ClientFailed("outbox: %d delivered, expected %d" % (got, count))
        clear_maildir(self.maildir(OUTBOX_USER))
        return time.perf_counter() - t0

    def outbox(self):
        c = self.cfg
        n = c["outbox_messages"]
        addr = OUTBOX_USER + "@localhost"
        args = [self.host, self.submission, self.ca, OUTBOX_USER, self.pw, addr, addr, self.outbox_dir]

        def after(s):
            s["delivery_wait"] = self.wait_delivered(n)

        # mailtls C: one mailtls_smtp_send_batch() call when the library has
        # it (the outbox API), and one send_bytes() per message either way.
        batch = self.has_send_batch()
        clients = {
            LIMIT: lambda: self.sample("outbox", LIMIT, [self.bin + "/limit_smtp"] + args + [str(n)], check=after),
            MT_C: lambda: self.sample("outbox", MT_C, [self.bin + "/mailtls_bench", "smtp-batch"] + args + [str(n)], check=after),
            MT_C_LOOP: lambda: self.sample("outbox", MT_C_LOOP, [self.bin + "/mailtls_bench", "smtp-outbox"] + args + [str(n)], check=after),
            MT_PY: lambda: self.sample("outbox", MT_PY, self.py("mailtls", "smtp-batch", *args, str(n)), self.pyenv, check=after),
            MT_PY_LOOP: lambda: self.sample("outbox", MT_PY_LOOP, self.py("mailtls", "smtp-outbox", *args, str(n)), self.pyenv, check=after),
            STDLIB: lambda: self.sample("outbox", STDLIB, self.py("stdlib", "smtp-outbox", *args, str(n)), self.stdenv, check=after),
        }
        if not batch:
            clients[MT_C] = clients.pop(MT_C_LOOP)
            self.notes.append("outbox: the library has no mailtls_smtp_send_batch(): mailtls C sends one "
                              "mailtls_smtp_send_bytes() per message")
        else:
            self.notes.append("outbox: mailtls C = one mailtls_smtp_send_batch() call for the whole outbox; "
                              "'send loop' = one mailtls_smtp_send_bytes() per message")
        if not self.has_python_smtp():
            del clients[MT_PY], clients[MT_PY_LOOP]
            self.notes.append("outbox: mailtls Python left out: the binding has no SMTP class yet")
        elif not self.has_python_send_many():
            clients[MT_PY] = clients.pop(MT_PY_LOOP)
            self.notes.append("outbox: the binding has no SMTP.send_many(): mailtls Python sends one message per send()")
        else:
            self.notes.append("outbox: mailtls Python = SMTP.send_many() over the outbox; 'send loop' = one send() per message")
        log("outbox: warm-up")
        warm = min(n, 50)
        self.run([self.bin + "/limit_smtp"] + args + [str(warm)])
        self.wait_delivered(warm)
        self.interleave("outbox", clients, c["outbox_reps"])

    def warm_python(self):
        """Import every module the Python clients use once, so that their
        bytecode is cached before anything is measured."""
        subprocess.run([sys.executable, "-S", "-c", "import client, poplib, smtplib, ssl"], env=self.stdenv, check=True)
        subprocess.run([sys.executable, "-S", "-c", "import client, mailtls\ntry:\n    import mailtls.smtp\nexcept ImportError:\n    pass"],
                       env=self.pyenv, check=True)

    def has_send_batch(self):
        """Whether bench/run.sh built mailtls_bench with the batch outbox
        (it does when include/mailtls.h declares mailtls_smtp_send_batch)."""
        return os.path.exists(os.path.join(self.bin, "mailtls_bench.batch"))

    def has_python_send_many(self):
        r = subprocess.run([sys.executable, "-S", "-c", "import mailtls; mailtls.SMTP.send_many"], env=self.pyenv,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return r.returncode == 0

    def has_python_smtp(self):
        r = subprocess.run([sys.executable, "-S", "-c", "import mailtls; mailtls.SMTP"], env=self.pyenv,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return r.returncode == 0

    # -- scenario 4: session setup --

    def setup(self):
        c = self.cfg
        k = c["setup_sessions"]
        args = self.pop_args(SETUP_USER)

        def curl():
            times, wall, cpu, rss = [], 0.0, 0.0, 0
            # curl sends its own QUIT only when it closes the connection at
            # exit, after time_total: so the session is STAT, then QUIT as a
            # second request on the same connection, and its time the sum
            # of both time_totals (connect + TLS + login + STAT + QUIT).
            url = "pop3s://%s:%s/" % (self.host, self.pop3s)
            op = ["--cacert", self.ca, "-u", "%s:%s" % (SETUP_USER, self.pw), "-I", "-w", "%{time_total} %{num_connects}\n"]
            for _ in range(k):
                text, w, ut, st, r = self.run(["curl", "-sS"] + op + ["-X", "STAT", url, "--next"] + op + ["-X", "QUIT", url])
                (t1, c1), (t2, c2) = [line.split() for line in text.split("\n") if line.strip()]
                if (c1, c2) != ("1", "0"):
                    raise ClientFailed("curl setup: the QUIT did not reuse the session's connection")
                times.append(float(t1) + float(t2))
                wall += w
                cpu += ut + st
                rss = max(rss, r)
            s = {"sessions": times, "wall": wall, "cpu": cpu, "maxrss_kib": rss}
            self.results.setdefault("setup", {}).setdefault(CURL, []).append(s)

        clients = {
            LIMIT: lambda: self.sample("setup", LIMIT, [self.bin + "/limit_pop3", "setup"] + args + [str(k)]),
            MT_C: lambda: self.sample("setup", MT_C, [self.bin + "/mailtls_bench", "pop3-setup"] + args + [str(k)]),
            MT_PY: lambda: self.sample("setup", MT_PY, self.py("mailtls", "pop3-setup", *args, str(k)), self.pyenv),
            STDLIB: lambda: self.sample("setup", STDLIB, self.py("stdlib", "pop3-setup", *args, str(k)), self.stdenv),
            CURL: curl,
        }
        log("setup: warm-up")
        self.run([self.bin + "/limit_pop3", "setup"] + args + ["3"])
        self.interleave("setup", clients, c["setup_reps"])

    # -- scenario 5: sync into a Maildir --

    def sync_account(self, client, d):
        """argv and env of one sync by `client` of the sync mailbox into
        d/Maildir, with its state (state file, UIDL file, getmail's
        directory) in d: leave on server, no header added."""
        md = os.path.join(d, "Maildir")
        if client in (MT_CLI, MT_CLI_BASE):
            env = dict(os.environ, MAILTLS_PASSWORD=self.pw)
            url = "pop3s://%s@%s:%s" % (SYNC_USER, self.host, self.pop3s)
            cli = self.cli if client == MT_CLI else self.cli_base
            return [cli, "--ca-file", self.ca, "fetch", url, "--maildir", md,
                    "--state", os.path.join(d, "state")], env
        if client == MPOP:
            cfg = os.path.join(d, "mpoprc")
            with open(os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write("\n".join([
                    "defaults", "account bench", "host %s" % self.host, "port %s" % self.pop3s,
                    "tls on", "tls_starttls off", "tls_trust_file %s" % self.ca,
                    "user %s" % SYNC_USER, "password %s" % self.pw,
                    # pipelining auto: Dovecot announces PIPELINING.
                    "keep on", "received_header off",
                    "delivery maildir %s" % md, "uidls_file %s" % os.path.join(d, "uidls"),
                    "account default : bench", ""]))
            return ["mpop", "-q", "-C", cfg], os.environ
        if client == GETMAIL:
            gm = os.path.join(d, "getmail")
            os.makedirs(gm, exist_ok=True)
            with open(os.path.join(gm, "getmailrc"), "w") as f:
                f.write("\n".join([
                    "[retriever]", "type = SimplePOP3SSLRetriever", "server = %s" % self.host,
                    "port = %s" % self.pop3s, "username = %s" % SYNC_USER, "password = %s" % self.pw,
                    "ca_certs = %s" % self.ca, "",
                    "[destination]", "type = Maildir", "path = %s/" % md, "",
                    "[options]", "verbose = 0", "read_all = false", "delete = false",
                    "received = false", "delivered_to = false", "message_log_syslog = false", ""]))
            for root, dirs, files in os.walk(d):
                for n in dirs + files + [""]:
                    os.chown(os.path.join(root, n), MAIL_UID, MAIL_GID)
            # getmail refuses to deliver as root: run it as nobody (setpriv
            # execs it, no process in between).
            return ["setpriv", "--reuid=%d" % MAIL_UID, "--regid=%d" % MAIL_GID, "--clear-groups",
                    "getmail", "-g", gm, "-r", os.path.join(gm, "getmailrc")], os.environ
        raise ValueError(client)

    def sync_dir(self, base, client):
        d = tempfile.mkdtemp(prefix=client.split()[0] + ".", dir=base)
        os.chmod(d, 0o755)
        for sub in ("tmp", "new", "cur"):  # mpop and getmail create none of them
            os.makedirs(os.path.join(d, "Maildir", sub))
        return d

    def check_maildir(self, scenario, client, md):
        n, want = self.cfg["sync_messages"], self.expected["sync_bytes"]
        count = size = 0
        for sub in ("new", "cur"):
            for name in os.listdir(os.path.join(md, sub)):
                count += 1
                size += os.path.getsize(os.path.join(md, sub, name))
        left = os.listdir(os.path.join(md, "tmp"))
        if (count, size) != (n, want) or left:
            raise ClientFailed("%s, %s: %d messages, %d bytes in the Maildir (expected %d, %d), %d in tmp/"
                               % (scenario, client, count, size, n, want, len(left)))

    def sync(self):
        c = self.cfg
        if not self.disk or not self.cli:
            raise ClientFailed("sync: needs --disk and --cli (bench/run.sh passes them)")
        shm = os.path.join(self.work, "sync")
        os.makedirs(shm)
        os.chmod(shm, 0o755)
        bases = {"sync_shm": shm, "sync_disk": self.disk}

        def first(scenario, client):
            if client == GETMAIL and (GETMAIL in failed or
                                      len(self.results.get(scenario, {}).get(GETMAIL, [])) >= c["sync_getmail_reps"]):
                return SKIPPED
            if client == GETMAIL:
                # A peer that fails (getmail6 has timed out waiting for its
                # delivery process on a slow disk) is reported, not fatal.
                try:
                    return measure(scenario, client)
                except ClientFailed as e:
                    failed.add(GETMAIL)
                    self.notes.append("sync: getmail6 failed in %s and was left out from then on: %s"
                                      % (scenario, str(e)[-300:]))
                    return SKIPPED
            return measure(scenario, client)

        def measure(scenario, client):
            d = self.sync_dir(bases[scenario], client)
            argv, env = self.sync_account(client, d)
            # Nobody pays for the writeback of the run before (nor for
            # removing its Maildir).
            os.sync()
            md = os.path.join(d, "Maildir")
            s = self.sample(scenario, client, argv, env, parse=False,
                            check=lambda s: self.check_maildir(scenario, client, md))
            if scenario == "sync_shm":
                # The last one is kept for the nothing-new syncs.
                if client in again:
                    shutil.rmtree(again[client][0])
                again[client] = (d, argv, env)
            else:
                shutil.rmtree(d)
            return s

        again = {}  # tool -> (directory, argv, env) of its last first sync on tmpfs
        failed = set()
        log("sync: warm-up")
        self.run([self.bin + "/limit_pop3", "bulk"] + self.pop_args(SYNC_USER))
        tools = [MT_CLI] + ([MT_CLI_BASE] if self.cli_base else []) + [MPOP, GETMAIL]
        for scenario in ("sync_shm", "sync_disk"):
            clients = {name: (lambda sc=scenario, n=name: first(sc, n)) for name in tools}
            self.interleave(scenario, clients, c["sync_reps"])

        # Nothing new: each tool's Maildir and state from its last first
        # sync on tmpfs, synced again: every message is known.

        def nothing_new(name):
            d, argv, env = again[name]
            os.sync()
            return self.sample("sync_again", name, argv, env, parse=False,
                               check=lambda s: self.check_maildir("sync_again", name, os.path.join(d, "Maildir")))

        def limit(s):
            if s["messages"] != c["sync_messages"]:
                raise ClientFailed("limit uidl: %d entries" % s["messages"])
            s["own_elapsed"], s["elapsed"] = s["elapsed"], s["wall"]

        clients = {LIMIT_UIDL: lambda: self.sample("sync_again", LIMIT_UIDL,
                                                   [self.bin + "/limit_pop3", "uidl"] + self.pop_args(SYNC_USER),
                                                   check=limit)}
        clients.update({name: (lambda n=name: nothing_new(n)) for name in tools if name in again})
        self.interleave("sync_again", clients, c["sync_again_reps"])
        for d, _, _ in again.values():
            shutil.rmtree(d)
        self.notes.append("sync: times are process wall times (start to exit) for every client, the limit's "
                          "too; mailtls fetch, mpop and getmail6 leave messages on the server; getmail6's first "
                          "sync runs in %d repetition(s) only" % c["sync_getmail_reps"])
        if self.cli_base:
            self.notes.append("sync: 'mailtls fetch (baseline)' = %s" % self.cli_base)

    # -- the loop --

    def interleave(self, scenario, clients, reps):
        names = list(clients)
        for rep in range(reps):
            order = names[rep % len(names):] + names[: rep % len(names)]
            line = []
            for name in order:
                if clients[name]() is SKIPPED:
                    continue
                s = self.results[scenario][name][-1]
                shown = statistics.median(s["sessions"]) if "sessions" in s else s["elapsed"]
                line.append("%s %.3f" % (name, shown))
            log("%s rep %d/%d: %s" % (scenario, rep + 1, reps, ", ".join(line)))


# ---- profiles ---------------------------------------------------------------------


def callgrind(bench, name, argv, env=None, toggle=None):
    """Run argv under callgrind; return (total instructions, annotate text)."""
    out = os.path.join(bench.work, "callgrind.%s.out" % name)
    vg = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out]
    if toggle:
        vg.append("--toggle-collect=" + toggle)
    r = subprocess.run(vg + argv, env=env or os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise ClientFailed("callgrind %s: %s" % (name, r.stderr[-2000:]))
    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=99", out],
                         stdout=subprocess.PIPE, text=True).stdout
    total = 0
    for line in ann.splitlines():
        if "PROGRAM TOTALS" in line:
            total = int(line.split()[0].replace(",", ""))
    return total, ann


def top_lines(ann, n, match=None):
    """The first n function lines of an inclusive callgrind_annotate listing
    (optionally only those containing one of `match`), one per function."""
    out, seen, started = [], set(), False
    for line in ann.splitlines():
        if "file:function" in line:
            started = True
            continue
        if not started:
            continue
        if not line.strip():
            if out:
                break
            continue
        if match and not any(m in line for m in match):
            continue
        count, _, where = line.strip().partition("  ")
        func = where.strip().split(" [")[0].partition(":")[2]  # "file:function"
        if func in seen:
            continue
        seen.add(func)
        obj = where.strip().rsplit("/", 1)[-1].rstrip("]") if "[" in where else ""
        out.append("%-28s %s  (%s)" % (count, func[:110], obj))
        if len(out) >= n:
            break
    return out


def syscalls(bench, argv, env=None):
    """Count sendto/write and recvfrom/read calls of argv with strace."""
    out = os.path.join(bench.work, "strace.out")
    r = subprocess.run(["strace", "-f", "-c", "-o", out, "-e", "trace=sendto,write,recvfrom,read"] + argv,
                       env=env or os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise ClientFailed("strace: %s" % r.stderr[-2000:])
    counts = {}
    for line in open(out):
        f = line.split()
        if len(f) >= 5 and f[-1] in ("sendto", "write", "recvfrom", "read"):
            counts[f[-1]] = int(f[3])
    return counts


def profile(bench):
    """Where the time of mailtls goes, compared with the limit clients:
    instruction counts (callgrind: steady on a noisy machine) and system
    calls (strace). Printed, not written to JSON."""
    c = bench.cfg
    n_bulk, n_setup, n_out, n_big = 2000, 5, 200, 10
    bench.cfg.update(bulk_messages=n_bulk, outbox_messages=n_out, big_mb=n_big)
    bench.seed(["bulk", "big", "setup", "outbox"])
    spawn_env = os.environ
    pop_b, pop_s = bench.pop_args(BULK_USER), bench.pop_args(SETUP_USER)
    addr = OUTBOX_USER + "@localhost"
    smtp = [bench.host, bench.submission, bench.ca, OUTBOX_USER, bench.pw, addr, addr, bench.outbox_dir, str(n_out)]
    bench.run([bench.bin + "/limit_pop3", "bulk"] + pop_b)  # Dovecot's index
    report = []

    def section(title):
        report.append("")
        report.append("== " + title)

    section("Session setup (connect, TLS, login, STAT, QUIT): instructions")
    url = "pop3s://%s:%s/" % (bench.host, bench.pop3s)
    op = ["--cacert", bench.ca, "-u", "%s:%s" % (SETUP_USER, bench.pw), "-I"]
    curl = ["curl", "-sS"] + op + ["-X", "STAT", url, "--next"] + op + ["-X", "QUIT", url]
    more = n_setup  # sessions after the first
    rows = []
    for label, prog in (("limit", [bench.bin + "/limit_pop3", "setup"]),
                        ("mailtls C", [bench.bin + "/mailtls_bench", "pop3-setup"])):
        one, _ = callgrind(bench, "setup1-" + label[:5], prog + pop_s + ["1"])
        many, ann = callgrind(bench, "setupN-" + label[:5], prog + pop_s + [str(1 + more)])
        rows.append((label, one, (many - one) / more, ann))
    tot_c, _ = callgrind(bench, "setup-curl", curl)
    report.append("%-10s %10s %14s" % ("", "process with", "each further"))
    report.append("%-10s %10s %14s" % ("", "1 session", "session"))
    for label, one, each, _ann in rows:
        report.append("%-10s %9.1f M %12.1f M" % (label, one / 1e6, each / 1e6))
    report.append("%-10s %9.1f M %12s   (one process per session)" % ("curl", tot_c / 1e6, "-"))
    report.append("mailtls C, %d sessions in one process, inclusive (Ir):" % (1 + more))
    report += ["  " + l for l in top_lines(rows[1][3], 12, match=[
        "mailtls_pop3_connect", "mailtls_pop3_login", "tls::handshake", "TlsConnector::new",
        "set_default_verify_paths", "load_verify_locations", "X509_load_cert_crl_file", "SSL_connect",
        "mailtls_pop3_quit", "mailtls_pop3_stat"])]

    section("Bulk fetch: %d x 2 KB, instructions per message" % n_bulk)
    tot_l, _ = callgrind(bench, "bulk-limit", [bench.bin + "/limit_pop3", "bulk"] + pop_b)
    tot_m, ann = callgrind(bench, "bulk-mailtls", [bench.bin + "/mailtls_bench", "pop3-bulk"] + pop_b)
    report.append("limit      %8.0f instructions per message" % (tot_l / n_bulk))
    report.append("mailtls C  %8.0f instructions per message" % (tot_m / n_bulk))
    report += ["  " + l for l in top_lines(ann, 16, match=[
        "mailtls_pop3_connect", "mailtls_pop3_retr_many", "retr_many", "read_body", "Connection::fill",
        "ssl3_read", "SSL_read", "TlsConnector", "aes", "count_message", "plain_run", "memchr"])]
    sys_l = syscalls(bench, [bench.bin + "/limit_pop3", "bulk"] + pop_b)
    sys_m = syscalls(bench, [bench.bin + "/mailtls_bench", "pop3-bulk"] + pop_b)
    report.append("system calls, limit:     %s" % sys_l)
    report.append("system calls, mailtls C: %s" % sys_m)

    section("One %d MB message into a file: instructions" % n_big)
    path = os.path.join(bench.work, "message.eml")
    pop_g = bench.pop_args(BIG_USER)
    bench.run([bench.bin + "/limit_pop3", "file"] + pop_g + ["1", path])
    tot_l, _ = callgrind(bench, "big-limit", [bench.bin + "/limit_pop3", "file"] + pop_g + ["1", path])
    tot_m, ann = callgrind(bench, "big-mailtls", [bench.bin + "/mailtls_bench", "pop3-file"] + pop_g + ["1", path])
    os.unlink(path)
    report.append("limit      %8.1f M instructions, whole process" % (tot_l / 1e6))
    report.append("mailtls C  %8.1f M instructions, whole process" % (tot_m / 1e6))
    report += ["  " + l for l in top_lines(ann, 12, match=[
        "mailtls_pop3_connect", "mailtls_pop3_retr_to_file", "retr_to_file", "read_body", "Connection::fill",
        "SSL_read", "TlsConnector::new", "write_all", "sync_all", "memcpy", "memmove", "plain_run"])]
    sys_l = syscalls(bench, [bench.bin + "/limit_pop3", "file"] + pop_g + ["1", path])
    sys_m = syscalls(bench, [bench.bin + "/mailtls_bench", "pop3-file"] + pop_g + ["1", path])
    os.unlink(path)
    report.append("system calls, limit:     %s" % sys_l)
    report.append("system calls, mailtls C: %s" % sys_m)

    section("Outbox: %d x 2 KB, system calls (each write is a separate send; every wait a round trip)" % n_out)
    mode = "smtp-batch" if bench.has_send_batch() else "smtp-outbox"

    def sends(d):
        return (d.get("sendto", 0) + d.get("write", 0)) / n_out

    for label, argv in (("limit", [bench.bin + "/limit_smtp"] + smtp),
                        ("mailtls C, send loop", [bench.bin + "/mailtls_bench", "smtp-outbox"] + smtp),
                        ("mailtls C, " + mode, [bench.bin + "/mailtls_bench", mode] + smtp)):
        counts = syscalls(bench, argv)
        bench.wait_delivered(n_out)
        report.append("%-22s %s  (%.2f sends per message)" % (label + ":", counts, sends(counts)))
    tot_l, _ = callgrind(bench, "outbox-limit", [bench.bin + "/limit_smtp"] + smtp)
    bench.wait_delivered(n_out)
    tot_m, ann = callgrind(bench, "outbox-mailtls", [bench.bin + "/mailtls_bench", mode] + smtp)
    bench.wait_delivered(n_out)
    report.append("instructions per message: limit %.0f, mailtls C (%s) %.0f" % (tot_l / n_out, mode, tot_m / n_out))
    report += ["  " + l for l in top_lines(ann, 12, match=[
        "mailtls_smtp_connect", "mailtls_smtp_login", "mailtls_smtp_send_bytes", "TlsConnector",
        "mailtls_smtp_send_batch", "write_content", "read_reply", "send_inner", "send_batch"])]
    print("\n".join(report))


# ---- machine description --------------------------------------------------------------


def first_line(argv):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20)
        return r.stdout.strip().splitlines()[0] if r.stdout.strip() else ""
    except Exception as e:  # noqa: BLE001 - informational only
        return "unknown (%s)" % e


def machine_info(library):
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    import ctypes
    try:
        lib = ctypes.CDLL(library)
        lib.mailtls_version.restype = ctypes.c_char_p
        mailtls_version = lib.mailtls_version().decode()
    except OSError as e:
        mailtls_version = "unknown (%s)" % e
    commit = first_line(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           stdout=subprocess.PIPE, text=True).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem / 2**30, 1),
        "kernel": platform.release(),
        "os": first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "dovecot": first_line(["dovecot", "--version"]),
        "postfix": first_line(["postconf", "-d", "-h", "mail_version"]),
        "openssl": first_line(["openssl", "version"]),
        "python": platform.python_version(),
        "curl": first_line(["curl", "--version"]),
        "gcc": first_line(["gcc", "--version"]),
        "rustc": first_line(["rustc", "--version"]),
        "mailtls": mailtls_version,
        "commit": commit + ("+dirty" if dirty else ""),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# ---- report -------------------------------------------------------------------------------


SCENARIOS = ["bulk", "big", "huge", "outbox", "setup", "sync"]
ROWS = SCENARIOS + ["setup_first"]
ORDER = [LIMIT, MT_C, MT_C_LOOP, MT_PY, MT_PY_LOOP, STDLIB, CURL]


def times_of(samples):
    """The figures a row is made of: per-run elapsed seconds, or for setup
    every session's seconds of every run."""
    if samples and "sessions" in samples[0]:
        return [t for s in samples for t in s["sessions"]]
    return [s["elapsed"] for s in samples]


def summarize(results):
    summary = {}
    for scen, clients in results.items():
        summary[scen] = {}
        for name, samples in clients.items():
            t = times_of(samples)
            cpu = [s["cpu"] for s in samples]
            if "sessions" in samples[0]:
                cpu = [s["cpu"] / len(s["sessions"]) for s in samples]  # per session, process start included
            summary[scen][name] = {
                "runs": len(samples),
                "median": statistics.median(t),
                "min": min(t),
                "max": max(t),
                "cpu_median": statistics.median(cpu),
                "maxrss_mib": max(s["maxrss_kib"] for s in samples) / 1024,
            }
    # The first session of each process on its own: what a program that
    # connects once per run pays (curl: every session is a first one).
    if "setup" in results:
        first = {}
        for name, samples in results["setup"].items():
            t = [x for s in samples for x in s["sessions"]] if name == CURL else [s["sessions"][0] for s in samples]
            first[name] = {"runs": len(samples), "median": statistics.median(t), "min": min(t), "max": max(t),
                           "cpu_median": None, "maxrss_mib": None}
        summary["setup_first"] = first
    return summary


def title(scen, cfg):
    return {
        "bulk": "Bulk fetch, %s x 2 KB (POP3S)" % format(cfg["bulk_messages"], ","),
        "big": "One %d MB message to a file (POP3S)" % cfg["big_mb"],
        "huge": "One %s message to a file, 1 run" % ("%d MB" % cfg["huge_mb"] if cfg["huge_mb"] < 1024 else "%g GB" % (cfg["huge_mb"] / 1024)),
        "outbox": "Outbox, %s x 2 KB (STARTTLS+AUTH)" % format(cfg["outbox_messages"], ","),
        "setup": "Session setup, per session (%d x %d)" % (cfg["setup_reps"], cfg["setup_sessions"]),
        "setup_first": "Session setup, first of a process",
        "sync_shm": "First sync, %s x 2 KB, Maildir on tmpfs" % format(cfg["sync_messages"], ","),
        "sync_disk": "First sync, %s x 2 KB, Maildir on disk" % format(cfg["sync_messages"], ","),
        "sync_again": "Sync with nothing new (%s known)" % format(cfg["sync_messages"], ","),
    }[scen]


def fmt_ratio(a, b):
    if b is None or a is None or b == 0:
        return ""
    return "%.2f" % (a / b)


def table(summary, cfg):
    head = ["Scenario", "Client", "median s", "min s", "max s", "x limit", "x mailtls C",
            "x mailtls Py", "x poplib/smtplib", "x curl", "CPU s", "peak RSS MB"]
    rows = []
    for scen in ROWS:
        if scen not in summary:
            continue
        clients = summary[scen]
        ref = {k: (clients[k]["median"] if k in clients else None) for k in ORDER}
        first = True
        for name in ORDER:
            if name not in clients:
                continue
            s = clients[name]
            label = NAMES.get(scen, {}).get(name, name)
            digits = "%.4f" if scen.startswith("setup") else "%.3f"
            cpu = s["cpu_median"]
            rows.append([
                title(scen, cfg) if first else "",
                label,
                digits % s["median"], digits % s["min"], digits % s["max"],
                "" if name == LIMIT else fmt_ratio(s["median"], ref[LIMIT]),
                "" if name == MT_C else fmt_ratio(s["median"], ref[MT_C]),
                "" if name == MT_PY else fmt_ratio(s["median"], ref[MT_PY]),
                "" if name == STDLIB else fmt_ratio(s["median"], ref[STDLIB]),
                "" if name == CURL else fmt_ratio(s["median"], ref[CURL]),
                "" if cpu is None else ("%.4f" if scen == "setup" else "%.3f") % cpu,
                "" if s["maxrss_mib"] is None else "%.1f" % s["maxrss_mib"],
            ])
            first = False
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    def line(cells):
        return "| " + " | ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    out = [line(head), "|" + "|".join(("-" * (w + 2)) if i < 2 else ("-" * (w + 1) + ":") for i, w in enumerate(widths)) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def sync_table(summary, cfg):
    """The sync rows: command-line tools, compared with mpop, getmail6 and
    (nothing new) the limit client's UIDL-only session."""
    head = ["Scenario", "Client", "median s", "min s", "max s", "x mpop", "x getmail6", "x limit",
            "CPU s", "peak RSS MB"]
    rows = []
    for scen in SYNC_ROWS:
        clients = summary.get(scen)
        if not clients:
            continue
        ref = {k: (clients[k]["median"] if k in clients else None) for k in SYNC_ORDER}
        first = True
        for name in SYNC_ORDER:
            if name not in clients:
                continue
            s = clients[name]
            rows.append([
                title(scen, cfg) if first else "", name,
                "%.3f" % s["median"], "%.3f" % s["min"], "%.3f" % s["max"],
                "" if name == MPOP else fmt_ratio(s["median"], ref[MPOP]),
                "" if name == GETMAIL else fmt_ratio(s["median"], ref[GETMAIL]),
                "" if name == LIMIT_UIDL else fmt_ratio(s["median"], ref[LIMIT_UIDL]),
                "%.3f" % s["cpu_median"], "%.1f" % s["maxrss_mib"],
            ])
            first = False
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    out = [line(head), "|" + "|".join(("-" * (w + 2)) if i < 2 else ("-" * (w + 1) + ":") for i, w in enumerate(widths)) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def targets(summary):
    res = []

    def get(scen, client, key="median"):
        return summary.get(scen, {}).get(client, {}).get(key)

    def check(label, value, limit, unit="x", less=True):
        if value is None or limit is None:
            res.append({"target": label, "value": None, "limit": limit, "pass": None})
            return
        ok = value <= limit if less else value >= limit
        res.append({"target": label, "value": value, "limit": limit, "pass": ok, "unit": unit})

    def ratio(a, b):
        return None if a is None or b is None else a / b

    lim = get("bulk", LIMIT)
    check("bulk fetch: mailtls C time / limit <= 1.2", ratio(get("bulk", MT_C), lim), 1.2)
    check("bulk fetch: mailtls Python time / limit <= 1.5", ratio(get("bulk", MT_PY), lim), 1.5)
    check("bulk fetch: mailtls C CPU / poplib CPU <= 0.2",
          ratio(get("bulk", MT_C, "cpu_median"), get("bulk", STDLIB, "cpu_median")), 0.2)
    check("bulk fetch: mailtls Python CPU / poplib CPU <= 0.2",
          ratio(get("bulk", MT_PY, "cpu_median"), get("bulk", STDLIB, "cpu_median")), 0.2)
    check("big message: mailtls C time / limit <= 1.1", ratio(get("big", MT_C), get("big", LIMIT)), 1.1)
    check("big message: mailtls Python time / limit <= 1.1", ratio(get("big", MT_PY), get("big", LIMIT)), 1.1)
    for scen in ("big", "huge"):
        for client in (MT_C, MT_PY):
            check("%s message: %s peak RSS <= 32 MB" % (scen, client), get(scen, client, "maxrss_mib"), 32, "MB")
    check("outbox: mailtls C time / limit <= 1.1", ratio(get("outbox", MT_C), get("outbox", LIMIT)), 1.1)
    check("outbox: mailtls Python time / limit <= 1.15", ratio(get("outbox", MT_PY), get("outbox", LIMIT)), 1.15)
    check("setup: mailtls C time / curl <= 1.0", ratio(get("setup", MT_C), get("setup", CURL)), 1.0)
    check("setup: mailtls Python time / curl <= 1.0", ratio(get("setup", MT_PY), get("setup", CURL)), 1.0)
    check("setup, first session of a process: mailtls C time / curl <= 1.0",
          ratio(get("setup_first", MT_C), get("setup_first", CURL)), 1.0)
    check("first sync, tmpfs: mailtls fetch time / mpop <= 1.0", ratio(get("sync_shm", MT_CLI), get("sync_shm", MPOP)), 1.0)
    check("first sync, disk: mailtls fetch time / mpop <= 1.0", ratio(get("sync_disk", MT_CLI), get("sync_disk", MPOP)), 1.0)
    check("nothing-new sync: mailtls fetch time / limit UIDL-only session <= 1.2",
          ratio(get("sync_again", MT_CLI), get("sync_again", LIMIT_UIDL)), 1.2)
    rss = [get(scen, MT_CLI, "maxrss_mib") for scen in SYNC_ROWS if get(scen, MT_CLI, "maxrss_mib") is not None]
    check("sync: mailtls fetch peak RSS <= 32 MB", max(rss) if rss else None, 32, "MB")
    return res


def targets_text(res):
    out = []
    for t in res:
        if t["pass"] is None:
            out.append("- n/a   %s (not measured)" % t["target"])
        else:
            v = ("%.2f" % t["value"]) if t.get("unit") == "x" else ("%.1f MB" % t["value"])
            out.append("- %s  %s: %s" % ("PASS" if t["pass"] else "FAIL", t["target"], v))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--library", required=True, help="libmailtls.so to load (MAILTLS_LIBRARY)")
    ap.add_argument("--binding", default=os.path.join(ROOT, "bindings", "python"),
                    help="directory holding the Python package mailtls")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--disk", default="", help="a directory on disk (not tmpfs) for the sync scenario's Maildirs")
    ap.add_argument("--cli", default="", help="the mailtls command-line tool (release build) for the sync scenario")
    ap.add_argument("--cli-baseline", default="", help="another build of the tool, measured beside it (sync)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "latest.json"))
    ap.add_argument("--only", default="", help="comma-separated scenarios (default: all): " + ",".join(SCENARIOS))
    ap.add_argument("--profile", action="store_true", help="callgrind and strace profiles instead of the benchmark")
    ap.add_argument("--reps", type=int, default=0, help="repetitions of every repeated scenario (default: by mode)")
    args = ap.parse_args()

    b = Bench(args)
    if args.reps:
        for k in list(b.cfg):
            if k.endswith("_reps") and k != "sync_getmail_reps":
                b.cfg[k] = args.reps
    if args.profile:
        profile(b)
        shutil.rmtree(b.work, ignore_errors=True)
        return
    info = machine_info(args.library)
    info["loadavg_start"] = os.getloadavg()
    if args.disk:
        info["disk_fs"] = first_line(["findmnt", "-n", "-o", "FSTYPE,SOURCE,OPTIONS", "-T", args.disk])
    info["mpop"] = first_line(["mpop", "--version"])
    info["getmail"] = first_line(["getmail", "--version"])
    t0 = time.perf_counter()
    only = [s for s in args.only.split(",") if s] or SCENARIOS
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        ap.error("unknown scenario(s): %s" % ", ".join(sorted(unknown)))
    b.seed(only)
    b.warm_python()
    for scen in SCENARIOS:
        if scen in only:
            getattr(b, scen)()
    total = time.perf_counter() - t0
    info["loadavg_end"] = os.getloadavg()
    shutil.rmtree(b.work, ignore_errors=True)

    summary = summarize(b.results)
    tres = targets(summary)
    mode = "quick" if args.quick else "full"
    text = []
    text.append("mailtls benchmark (%s run, %s)" % (mode, info["date"]))
    text.append("Machine: %d cores (%s), %s GiB, Linux %s, %s" % (
        info["nproc"], info["cpu"], info["memory_gib"], info["kernel"], info["os"]))
    text.append("Servers: Dovecot %s, Postfix %s, on 127.0.0.1, state on tmpfs; %s; Python %s; %s"
                % (info["dovecot"].split()[0], info["postfix"], info["openssl"], info["python"],
                   " ".join(info["curl"].split()[:2])))
    text.append("mailtls %s (%s), release build" % (info["mailtls"], info["commit"]))
    text.append("Load average (1 min) at start / end: %.2f / %.2f" % (info["loadavg_start"][0], info["loadavg_end"][0]))
    text.append("Repetitions: bulk %d, big %d, huge 1, outbox %d, setup %d x %d sessions; interleaved, "
                "order rotated each repetition" % (b.cfg["bulk_reps"], b.cfg["big_reps"], b.cfg["outbox_reps"],
                                                   b.cfg["setup_reps"], b.cfg["setup_sessions"]))
    if "sync" in only:
        text.append("Sync: first sync %d repetitions per file system (a fresh Maildir and state each), nothing new %d; "
                    "disk: %s (%s)" % (b.cfg["sync_reps"], b.cfg["sync_again_reps"], args.disk, info.get("disk_fs", "?")))
    text.append("")
    if any(scen in summary for scen in ROWS):
        text.append(table(summary, b.cfg))
        text.append("")
    if any(scen in summary for scen in SYNC_ROWS):
        text.append(sync_table(summary, b.cfg))
        text.append("")
    text.append("Times: the client's own clock from before connect to after QUIT (curl: process wall time; "
                "setup: per session; curl: its time_total of STAT plus that of an explicit QUIT on the same connection). Ratios: of medians. CPU: user+sys of the client "
                "process (setup: per session, process start included). Peak RSS: of the client process. "
                "\"First of a process\": the first session of each setup run (curl: all its sessions), "
                "which pays for creating the TLS context.")
    for n in b.notes:
        text.append("Note: " + n)
    text.append("")
    text.append("Targets:")
    text.append(targets_text(tres))
    text.append("")
    text.append("Total benchmark time %.0f s" % total)
    report = "\n".join(text)
    print(report)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({
            "mode": mode,
            "machine": info,
            "config": b.cfg,
            "expected": b.expected,
            "summary": summary,
            "targets": tres,
            "notes": b.notes,
            "samples": b.results,
            "total_seconds": total,
        }, f, indent=1)
        f.write("\n")
    with open(os.path.splitext(args.out)[0] + ".txt", "w") as f:
        f.write(report + "\n")
    log("wrote %s" % args.out)


if __name__ == "__main__":
    main()
