"""Keeping secrets out of logs, results and reports."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_NAME = re.compile(r"(token|secret|passw|pwd|api[-_]?key|apikey|auth|credential|key$)", re.I)
_SECRET_FLAGS = frozenset({"--token", "--admin-key", "--auth-secret", "--api-key", "--password"})
# A script's own secret parameters: --client-secret, --db-password, --refresh-token...
_SECRET_FLAG_END = re.compile(r"^--.*[-_](secret|password|passwd|token|api[-_]?key|apikey)$", re.I)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def redact_url(url: str | None) -> str | None:
    """Drop ``user:password@`` and mask secret-looking query parameters."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if is_secret_name(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line safe to record: values of secret flags, secret headers,
    ``-e SECRET=...`` and credentials in URLs are masked."""
    out: list[str] = []
    mask_next = False
    for arg in argv:
        if mask_next:
            out.append(_mask_value(arg))
            mask_next = False
            continue
        flag, eq, value = arg.partition("=")
        if flag in _SECRET_FLAGS or _SECRET_FLAG_END.match(flag):
            if eq:
                out.append(f"{flag}={MASK}")
            else:
                out.append(arg)
                mask_next = True
            continue
        if flag in ("-H", "--header", "-e", "--env"):
            out.append(arg)
            if not eq:
                mask_next = flag in ("-H", "--header", "-e", "--env")
            continue
        if eq and "://" in value:
            out.append(f"{flag}={redact_url(value) or MASK}")
        else:
            out.append((redact_url(arg) or MASK) if "://" in arg else arg)
    return out


# Secrets that may appear in a response body or an error message.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}", re.I)
_JSON_SECRET = re.compile(
    r"(\"(?:[A-Za-z_-]*(?:token|secret|passw|pwd|api[-_]?key|apikey|credential)[A-Za-z_-]*)\"\s*:\s*)"
    r"\"[^\"]*\"", re.I)
_FORM_SECRET = re.compile(
    r"\b([A-Za-z_-]*(?:token|secret|passw|pwd|api[-_]?key|apikey|credential)[A-Za-z_-]*=)[^&\s\"']+",
    re.I)
_URL_CREDENTIALS = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@\"']+@")


def scrub_credentials(text: str) -> str:
    """Remove ``user:password@`` from every URL in a text: a last line of
    defence for files fleetload copies or renders from a run directory."""
    return _URL_CREDENTIALS.sub(r"\1", text)


def redact_text(text: str) -> str:
    """Mask what looks like a secret in free text (a response body, an error
    message): JWTs, ``Bearer ...`` credentials, JSON fields and form fields
    with secret-looking names, and ``user:password@`` in URLs."""
    text = _JWT.sub(MASK, scrub_credentials(text))
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _JSON_SECRET.sub(lambda m: f'{m.group(1)}"{MASK}"', text)
    return _FORM_SECRET.sub(lambda m: f"{m.group(1)}{MASK}", text)


def _mask_value(value: str) -> str:
    if ":" in value and "://" not in value:  # a header "Name: value"
        name, _, _ = value.partition(":")
        return f"{name}: {MASK}" if is_secret_name(name) else value
    if "=" in value:  # -e KEY=VALUE
        key, _, _ = value.partition("=")
        return f"{key}={MASK}" if is_secret_name(key) else value
    if "://" in value:
        return redact_url(value) or MASK
    return MASK
