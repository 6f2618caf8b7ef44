#!/usr/bin/env python3
"""Download a POP3 mailbox into a Maildir, safely, with POP3.sync().

Usage:
    MAILTLS_PASSWORD=... python3 fetch_all.py HOST PORT USER [--ca-file CA.pem]
        [--security auto|tls|starttls] [--maildir DIR] [--state FILE]
        [--delete] [--trace]

Only messages not saved before are downloaded (the state file remembers
them; default: DIR.USER@HOST.state beside the Maildir). Messages stay on the
server unless --delete is given; then each is deleted only once its file is
flushed to disk and recorded, so an interrupted run never loses mail and
the next run finishes the job without saving anything twice.
"""

from __future__ import annotations

import argparse
import os
import sys

import mailtls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("user")
    ap.add_argument("--ca-file", help="PEM file of CA certificates to trust")
    ap.add_argument("--security", default="auto", choices=["auto", "tls", "starttls"])
    ap.add_argument("--maildir", default="Maildir", help="the Maildir to save to (default: ./Maildir)")
    ap.add_argument("--state", help="the state file (default: MAILDIR.USER@HOST.state)")
    ap.add_argument("--delete", action="store_true", help="delete messages on the server once saved")
    ap.add_argument("--trace", action="store_true", help="print the protocol trace")
    args = ap.parse_args()

    password = os.environ.get("MAILTLS_PASSWORD")
    if password is None:
        ap.error("set the password in the environment variable MAILTLS_PASSWORD")
    state = args.state or f"{args.maildir.rstrip('/')}.{args.user}@{args.host}.state"

    def trace(kind: str, data: bytes) -> None:
        print(f"[{kind}] {data.decode('utf-8', 'replace')}", file=sys.stderr)

    try:
        with mailtls.POP3(args.host, args.port, security=args.security,
                          ca_file=args.ca_file, trace=trace if args.trace else None) as pop:
            pop.login(args.user, password)
            report = pop.sync(state, args.maildir, retention="delete" if args.delete else "leave")
    except mailtls.AuthError as e:
        print(f"login refused: {e.reply or e.message}", file=sys.stderr)
        return 1
    except mailtls.StateLocked:
        print(f"another sync of {state} is running", file=sys.stderr)
        return 1
    except mailtls.Error as e:
        # What was saved before the failure stays saved; run again to go on.
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    print(f"{report.downloaded} new, {report.already_had} already saved, "
          f"{report.deleted} deleted; Maildir {args.maildir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
