#!/usr/bin/env python3
"""Download every message of a POP3 mailbox into a directory.

Usage:
    MAILTLS_PASSWORD=... python3 fetch_all.py HOST PORT USER [--ca-file CA.pem]
        [--security auto|tls|starttls] [--out DIR] [--delete] [--trace]

Messages are saved as DIR/<unique id>.eml (the UIDL id, so running it again
skips what was already saved), fetched with pipelined RETRs. Messages are
deleted from the server only with --delete, and only after all of them were
saved (the deletions are committed by the QUIT at the end of the `with`
block; any error before that leaves the mailbox untouched).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import sys

import mailtls


def safe_name(uid: str) -> str:
    # UIDs are printable ASCII, but may contain "/" and other characters a
    # file name should not.
    return re.sub(r"[^A-Za-z0-9._-]", lambda m: f"%{ord(m.group()):02X}", uid)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("user")
    ap.add_argument("--ca-file", help="PEM file of CA certificates to trust")
    ap.add_argument("--security", default="auto", choices=["auto", "tls", "starttls"])
    ap.add_argument("--out", default="mail", help="directory to save to (default: ./mail)")
    ap.add_argument("--delete", action="store_true", help="delete saved messages")
    ap.add_argument("--trace", action="store_true", help="print the protocol trace")
    args = ap.parse_args()

    password = os.environ.get("MAILTLS_PASSWORD")
    if password is None:
        ap.error("set the password in the environment variable MAILTLS_PASSWORD")

    def trace(kind: str, data: bytes) -> None:
        print(f"[{kind}] {data.decode('utf-8', 'replace')}", file=sys.stderr)

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with mailtls.POP3(args.host, args.port, security=args.security,
                          ca_file=args.ca_file, trace=trace if args.trace else None) as pop:
            pop.login(args.user, password)
            uids = dict(pop.uidl())
            wanted = [n for n, uid in uids.items()
                      if not (out / f"{safe_name(uid)}.eml").exists()]
            print(f"{len(uids)} messages, {len(wanted)} new", file=sys.stderr)
            for number, data in pop.retr_many(wanted):
                final = out / f"{safe_name(uids[number])}.eml"
                part = final.with_name(final.name + ".part")
                part.write_bytes(data)
                part.replace(final)  # never a truncated file under the final name
            if args.delete and uids:
                pop.dele_many(sorted(uids))
    except mailtls.AuthError as e:
        print(f"login refused: {e.reply or e.message}", file=sys.stderr)
        return 1
    except mailtls.Error as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    print(f"saved to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
