"""A loopback OCSP responder for the Wine tests (Wine's SChannel refuses a
server certificate whose revocation status it cannot get).

    python3 ocsp_responder.py CA_DIR

Listens on 127.0.0.1 at the port in CA_DIR/ocsp.port (the port the test
leaves' OCSP URL names; see tests/servers/test-ca.sh) and answers each
request (POST, or GET with the base64 request in the path, RFC 6960 A.1)
with `openssl ocsp` over CA_DIR/ocsp-index.txt. `openssl ocsp -port` would
listen on every interface; this keeps the responder on loopback. The
response carries no signer certificate (-resp_no_certs): Wine cannot parse
one that does.
"""

import base64
import subprocess
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def respond(ca_dir: Path, request: bytes) -> bytes:
    return subprocess.run(
        ["openssl", "ocsp", "-index", str(ca_dir / "ocsp-index.txt"), "-CA", str(ca_dir / "ca.pem"),
         "-rsigner", str(ca_dir / "ca.pem"), "-rkey", str(ca_dir / "ca.key"), "-resp_no_certs",
         "-ndays", "1", "-reqin", "/dev/stdin", "-respout", "/dev/stdout"],
        input=request, capture_output=True, check=True,
    ).stdout


def handler(ca_dir: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            self.answer(self.rfile.read(length))

        def do_GET(self) -> None:
            encoded = urllib.parse.unquote(self.path.lstrip("/"))
            self.answer(base64.b64decode(encoded + "=" * (-len(encoded) % 4)))

        def answer(self, request: bytes) -> None:
            try:
                body = respond(ca_dir, request)
            except (subprocess.CalledProcessError, ValueError) as e:
                self.send_error(400, str(e))
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/ocsp-response")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write("ocsp: " + format % args + "\n")

    return Handler


def main() -> None:
    ca_dir = Path(sys.argv[1])
    port = int((ca_dir / "ocsp.port").read_text())
    ThreadingHTTPServer(("127.0.0.1", port), handler(ca_dir)).serve_forever()


if __name__ == "__main__":
    main()
