"""The Python clients of the benchmark, one process per run.

    python3 client.py LIB MODE HOST PORT CA USER PASS [ARGS]

LIB is "mailtls" (the ctypes binding in bindings/python, found through
PYTHONPATH and MAILTLS_LIBRARY) or "stdlib" (poplib / smtplib). MODE:

    pop3-bulk                   login, UIDL, every message, QUIT
    pop3-file N PATH            message N into the file PATH, QUIT
    pop3-setup COUNT            COUNT sessions: connect+TLS+login+STAT+QUIT
    smtp-outbox FROM TO DIR COUNT
                                STARTTLS + AUTH, DIR/00001.eml .. COUNT on
                                one session (one send per message), QUIT
    smtp-batch FROM TO DIR COUNT
                                the same with SMTP.send_many (mailtls only)

Prints one JSON object: the elapsed seconds of the measured part, from
before connecting (the module is imported, the library loaded and the
outbox read before the clock starts) to after QUIT. Each client is
written as a user of that library would write it, with the library's
defaults (login mechanism included).
"""

import json
import os
import sys
import time


def outbox(directory, count):
    msgs = []
    for i in range(1, count + 1):
        with open(os.path.join(directory, "%05d.eml" % i), "rb") as f:
            msgs.append(f.read())
    return msgs


# ---- mailtls (the ctypes binding) ---------------------------------------------


def load_mailtls():
    """Import the binding and load libmailtls before the clock starts, as
    the stdlib clients import ssl (which loads OpenSSL) before theirs."""
    import mailtls

    mailtls.library_version()
    return mailtls


def mailtls_pop3(mailtls, host, port, ca):
    return mailtls.POP3(host, port, security="tls", ca_file=ca)


def mailtls_bulk(host, port, ca, user, pw):
    mailtls = load_mailtls()

    t0 = time.perf_counter()
    count = nbytes = 0
    with mailtls_pop3(mailtls, host, port, ca) as pop:
        pop.login(user, pw)
        numbers = [n for n, _uid in pop.uidl()]
        for _n, data in pop.retr_many(numbers):
            count += 1
            nbytes += len(data)
    return {"elapsed": time.perf_counter() - t0, "messages": count, "bytes": nbytes}


def mailtls_file(host, port, ca, user, pw, n, path):
    mailtls = load_mailtls()

    t0 = time.perf_counter()
    with mailtls_pop3(mailtls, host, port, ca) as pop:
        pop.login(user, pw)
        pop.retr_to_file(int(n), path)
    return {"elapsed": time.perf_counter() - t0, "bytes": os.path.getsize(path)}


def mailtls_setup(host, port, ca, user, pw, count):
    mailtls = load_mailtls()

    times = []
    for _ in range(int(count)):
        t0 = time.perf_counter()
        with mailtls_pop3(mailtls, host, port, ca) as pop:
            pop.login(user, pw)
            pop.stat()
        times.append(time.perf_counter() - t0)
    return {"sessions": times}


def mailtls_outbox(host, port, ca, user, pw, sender, rcpt, directory, count):
    mailtls = load_mailtls()

    msgs = outbox(directory, int(count))
    t0 = time.perf_counter()
    with mailtls.SMTP(host, port, security="starttls", ca_file=ca) as smtp:
        smtp.login(user, pw)
        for m in msgs:
            smtp.send(sender, [rcpt], m)
    return {"elapsed": time.perf_counter() - t0, "messages": len(msgs)}


def mailtls_batch(host, port, ca, user, pw, sender, rcpt, directory, count):
    mailtls = load_mailtls()

    msgs = outbox(directory, int(count))
    t0 = time.perf_counter()
    with mailtls.SMTP(host, port, security="starttls", ca_file=ca) as smtp:
        smtp.login(user, pw)
        outcomes = smtp.send_many((sender, [rcpt], m) for m in msgs)
    failed = [o for o in outcomes if isinstance(o, Exception)]
    if failed:
        raise failed[0]
    return {"elapsed": time.perf_counter() - t0, "messages": len(outcomes)}


# ---- Python's standard library ------------------------------------------------------
# ssl is imported here, not at the top: a mailtls client does not need it.


def poplib_bulk(host, port, ca, user, pw):
    import poplib
    import ssl

    t0 = time.perf_counter()
    pop = poplib.POP3_SSL(host, port, context=ssl.create_default_context(cafile=ca))
    pop.user(user)
    pop.pass_(pw)
    _resp, lines, _ = pop.uidl()
    numbers = [int(line.split()[0]) for line in lines]
    count = nbytes = 0
    for n in numbers:
        _resp, lines, octets = pop.retr(n)
        count += 1
        nbytes += octets
    pop.quit()
    return {"elapsed": time.perf_counter() - t0, "messages": count, "bytes": nbytes}


def poplib_file(host, port, ca, user, pw, n, path):
    import poplib
    import ssl

    t0 = time.perf_counter()
    pop = poplib.POP3_SSL(host, port, context=ssl.create_default_context(cafile=ca))
    pop.user(user)
    pop.pass_(pw)
    # poplib has no streaming RETR: the message arrives as a list of lines.
    _resp, lines, _ = pop.retr(int(n))
    with open(path, "wb") as f:
        f.write(b"\r\n".join(lines))
        f.write(b"\r\n")
    del lines
    pop.quit()
    return {"elapsed": time.perf_counter() - t0, "bytes": os.path.getsize(path)}


def poplib_setup(host, port, ca, user, pw, count):
    import poplib
    import ssl

    times = []
    for _ in range(int(count)):
        t0 = time.perf_counter()
        pop = poplib.POP3_SSL(host, port, context=ssl.create_default_context(cafile=ca))
        pop.user(user)
        pop.pass_(pw)
        pop.stat()
        pop.quit()
        times.append(time.perf_counter() - t0)
    return {"sessions": times}


def smtplib_outbox(host, port, ca, user, pw, sender, rcpt, directory, count):
    import smtplib
    import ssl

    msgs = outbox(directory, int(count))
    t0 = time.perf_counter()
    smtp = smtplib.SMTP(host, port)
    smtp.starttls(context=ssl.create_default_context(cafile=ca))
    smtp.login(user, pw)
    for m in msgs:
        smtp.sendmail(sender, [rcpt], m)
    smtp.quit()
    return {"elapsed": time.perf_counter() - t0, "messages": len(msgs)}


CLIENTS = {
    ("mailtls", "pop3-bulk"): mailtls_bulk,
    ("mailtls", "pop3-file"): mailtls_file,
    ("mailtls", "pop3-setup"): mailtls_setup,
    ("mailtls", "smtp-outbox"): mailtls_outbox,
    ("mailtls", "smtp-batch"): mailtls_batch,
    ("stdlib", "pop3-bulk"): poplib_bulk,
    ("stdlib", "pop3-file"): poplib_file,
    ("stdlib", "pop3-setup"): poplib_setup,
    ("stdlib", "smtp-outbox"): smtplib_outbox,
}


def main(argv):
    lib, mode, host, port, ca, user, pw, *rest = argv
    result = CLIENTS[(lib, mode)](host, int(port), ca, user, pw, *rest)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
