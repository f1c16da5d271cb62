"""Serve acme2certifier's WSGI ``application`` on one loopback port.

    ACME_SRV_CONFIGFILE=acme_srv.cfg python -m tests.peers.acme2certifier_wsgi PORT

The script acme2certifier ships (``acme2certifier_wsgi.py`` run as main)
binds 0.0.0.0:80; this binds 127.0.0.1:PORT with the same single-threaded
wsgiref server and request handler, prints ``PORT <n>`` once listening, and
serves until terminated. The configuration is read when the application module
is imported, from ``ACME_SRV_CONFIGFILE``.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from wsgiref.simple_server import make_server


def main(port: int) -> None:
    from acme2certifier.share.acme2certifier_wsgi import (  # type: ignore[import-untyped]
        application,
        get_handler_cls,
    )

    server = make_server("127.0.0.1", port, application, handler_class=get_handler_cls())

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"PORT {server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main(int(sys.argv[1]))
