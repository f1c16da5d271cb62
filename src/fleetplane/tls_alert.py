"""Failed server handshakes that tell the client why.

asyncio's (and uvloop's) TLS transport closes the connection as soon as the
server's handshake fails, dropping the alert OpenSSL wrote for the client. With
TLS 1.3 and required client certificates the client has finished its side of
the handshake by then: all it sees is the connection closing, not "certificate
required" or "unknown CA". :class:`AlertingSSLObject` holds the failure back for
one round: the transport sends the pending alert, and the next handshake step
(the client's next bytes) raises the failure and closes the connection.
"""

from __future__ import annotations

import ssl


class AlertingSSLObject(ssl.SSLObject):
    """An SSLObject whose failed handshake lets its alert go out first."""

    _handshake_failure: ssl.SSLError | None = None

    def do_handshake(self) -> None:
        if self._handshake_failure is not None:
            raise self._handshake_failure
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError as exc:
            self._handshake_failure = exc
            raise ssl.SSLWantReadError("handshake failed, alert pending") from exc


def send_handshake_alerts(ctx: ssl.SSLContext) -> None:
    """Make the connections ``ctx`` serves send their handshake-failure alerts."""
    ctx.sslobject_class = AlertingSSLObject


__all__ = ["AlertingSSLObject", "send_handshake_alerts"]
