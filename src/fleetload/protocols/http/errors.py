"""Error classes of failed requests and the mapping from exceptions to them.

A failed request never raises: :meth:`HttpClient.request` returns a
:class:`~fleetload.protocols.http.Response` whose ``error`` is one of the
:class:`ErrorClass` constants below (also used as the ``error`` metric tag) and
whose ``error_detail`` is a short human text without secrets.
"""

from __future__ import annotations

import errno
import socket
import ssl

import httptools


class ErrorClass:
    """The ``error`` values of a failed :class:`Response` (plain ``str`` constants)."""

    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_RESET = "connection_reset"  # incl. peer closed mid-response, broken pipe
    CONNECT_TIMEOUT = "connect_timeout"
    READ_TIMEOUT = "read_timeout"  # no complete response within read_timeout of sending / between bytes
    TIMEOUT = "timeout"  # total timeout of the request() call
    TLS_ERROR = "tls_error"
    DNS_ERROR = "dns_error"
    MALFORMED_RESPONSE = "malformed_response"
    CONNECTION_CLOSED = "connection_closed"  # server closed the connection before answering
    OTHER = "other"

    ALL: frozenset[str] = frozenset(
        {
            CONNECTION_REFUSED, CONNECTION_RESET, CONNECT_TIMEOUT, READ_TIMEOUT, TIMEOUT,
            TLS_ERROR, DNS_ERROR, MALFORMED_RESPONSE, CONNECTION_CLOSED, OTHER,
        }
    )


_RESET_ERRNOS = frozenset(
    {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ESHUTDOWN}
)
_REFUSED_ERRNOS = frozenset({errno.ECONNREFUSED})
_TIMEOUT_ERRNOS = frozenset({errno.ETIMEDOUT})


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def tls_detail(exc: BaseException) -> str:
    """A short description of a TLS failure; verification failures say so and why."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = exc.verify_message or exc.reason or str(exc)
        return _short(f"certificate verification failed: {why}")
    if isinstance(exc, ssl.SSLError):
        return _short(f"TLS handshake failed: {exc.reason or exc}")
    return _short(f"TLS handshake failed: {type(exc).__name__}: {exc}")


def classify(exc: BaseException, *, connecting: bool = False) -> tuple[str, str]:
    """Map an exception to ``(error class, detail)``.

    ``connecting`` tells whether the failure happened while establishing the
    connection (a timeout then is a ``connect_timeout``).
    """
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return ErrorClass.TLS_ERROR, tls_detail(exc)
    if isinstance(exc, socket.gaierror):
        return ErrorClass.DNS_ERROR, _short(f"name resolution failed: {exc.strerror or exc}")
    if isinstance(exc, ConnectionRefusedError):
        return ErrorClass.CONNECTION_REFUSED, "connection refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return ErrorClass.CONNECTION_RESET, _short(f"{type(exc).__name__}: {exc.strerror or exc}")
    if isinstance(exc, TimeoutError):
        if connecting:
            return ErrorClass.CONNECT_TIMEOUT, "connect timed out"
        return ErrorClass.READ_TIMEOUT, "read timed out"
    if isinstance(exc, httptools.HttpParserError):
        return ErrorClass.MALFORMED_RESPONSE, _short(f"invalid HTTP response: {exc}")
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno in _REFUSED_ERRNOS:
            return ErrorClass.CONNECTION_REFUSED, "connection refused"
        if exc.errno in _RESET_ERRNOS:
            return ErrorClass.CONNECTION_RESET, _short(exc.strerror or str(exc))
        if exc.errno in _TIMEOUT_ERRNOS:
            if connecting:
                return ErrorClass.CONNECT_TIMEOUT, "connect timed out"
            return ErrorClass.READ_TIMEOUT, "read timed out"
        return ErrorClass.OTHER, _short(f"{type(exc).__name__}: {exc.strerror or exc}")
    return ErrorClass.OTHER, _short(f"{type(exc).__name__}: {exc}")


__all__ = ["ErrorClass", "classify", "tls_detail"]
