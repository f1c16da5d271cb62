"""A tiny HTTP server that logs the wall-clock time of every request it
answers: ``python stamp_server.py PORT LOG`` (on 127.0.0.1)."""

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, log_path = int(sys.argv[1]), sys.argv[2]
log = open(log_path, "a", buffering=1)  # noqa: SIM115 - one line per request, kept open


class Stamp(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        log.write(f"{time.time():.6f} {self.path}\n")
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


server = ThreadingHTTPServer(("127.0.0.1", port), Stamp)
log.write("ready\n")
server.serve_forever()
