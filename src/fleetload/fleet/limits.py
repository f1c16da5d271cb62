"""The open-file limit a fleet needs: one socket per connection it holds."""

from __future__ import annotations

import resource
import sys


def raise_nofile(wanted: int) -> tuple[int, int]:
    """Raise the soft open-file limit up to the hard limit; returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if wanted > soft:
        print(f"fleetload: warning: open-file limit is {soft} (hard {hard}) but this fleet may "
              f"need about {wanted} sockets; raise it (`ulimit -n {wanted * 2}` in the shell, "
              "LimitNOFILE= for a systemd unit, /etc/security/limits.conf for the hard limit), "
              "raise --conn-fanout (gRPC), or spread the agents over more --workers/machines",
              file=sys.stderr, flush=True)
    return soft, hard
