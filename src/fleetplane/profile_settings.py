"""A profile's defaults, certctl's environment variables and the target's flags,
resolved into one set of settings (flags win, then the environment, then the profile)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from fleetplane.profile import Profile

T = TypeVar("T")
_TRUE = ("1", "t", "true", "y", "yes", "on")
_FALSE = ("0", "f", "false", "n", "no", "off")


@dataclass(frozen=True)
class ProfileSettings:
    rate_limit: float | None
    rate_limit_burst: int | None
    keygen_mode: str
    renewal_check_interval: float | None


def _boolean(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError
    return value


def _keygen(text: str) -> str:
    if text not in ("agent", "server"):
        raise ValueError
    return text


def _env(env: Mapping[str, str], name: str, parse: Callable[[str], T], expected: str) -> T | None:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        return parse(raw.strip())
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected {expected}") from None


def profile_settings(
    profile: Profile, *, rate_limit: float | None, rate_limit_burst: int | None, no_rate_limit: bool,
    keygen_mode: str | None, renewal_check_interval: float | None, env: Mapping[str, str],
) -> ProfileSettings:  # fmt: skip
    """Raises ValueError (one line naming the flag or variable) on bad input.

    certctl's variables (``CERTCTL_RATE_LIMIT_ENABLED/RPS/BURST``,
    ``CERTCTL_KEYGEN_MODE``) apply in the certctl profile only.
    """
    if no_rate_limit and rate_limit is not None:
        raise ValueError("--rate-limit and --no-rate-limit contradict each other")
    enabled = profile.rate_limit_default is not None
    rps, burst = profile.rate_limit_default or (None, None)
    if profile.name == "certctl":
        env_enabled = _env(env, "CERTCTL_RATE_LIMIT_ENABLED", _boolean, "true or false")
        if env_enabled is not None:
            enabled = env_enabled
        rps = _env(env, "CERTCTL_RATE_LIMIT_RPS", _positive_float, "a positive number") or rps
        burst = _env(env, "CERTCTL_RATE_LIMIT_BURST", _positive_int, "a whole number >= 1") or burst
        keygen_mode = keygen_mode or _env(env, "CERTCTL_KEYGEN_MODE", _keygen, "agent or server")
    if rate_limit is not None:
        enabled, rps = True, rate_limit
    if rate_limit_burst is not None:
        burst = rate_limit_burst
    if no_rate_limit:
        enabled = False
    interval = profile.renewal_check_default if renewal_check_interval is None else renewal_check_interval
    return ProfileSettings(
        rate_limit=rps if enabled else None,
        rate_limit_burst=burst if enabled else None,
        keygen_mode=keygen_mode or profile.keygen_default,
        renewal_check_interval=interval or None,
    )
