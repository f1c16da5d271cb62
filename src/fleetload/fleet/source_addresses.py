"""Source addresses of agent connections (``--source-addresses``) and the
ephemeral-port arithmetic that says, before a run, whether its connections fit.

A spec is a comma list of addresses, ranges (``127.0.0.2-127.0.0.254``) and
networks (``127.0.0.0/24``: its hosts), IPv4 or IPv6. Agent ``i`` connects from
address ``i mod n``. A TCP connection is one (source address, source port,
destination address, destination port); the kernel picks source ports from
``/proc/sys/net/ipv4/ip_local_port_range``, so one source address holds at most
that many connections to one destination at once (sockets are bound with
``IP_BIND_ADDRESS_NO_PORT``: the port is picked per destination).
"""

from __future__ import annotations

import ipaddress
import math
import socket
from pathlib import Path

#: More addresses than this in one spec is a typo, not a fleet.
MAX_ADDRESSES = 65_536
#: Linux keeps a closed connection's port in TIME_WAIT this long (the closer's side).
TIME_WAIT_SECONDS = 60.0
PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse(spec: str) -> list[str]:
    """The addresses of a spec, in order; ``ValueError`` with one clear line."""
    out: list[str] = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            raise ValueError(f"--source-addresses {spec!r}: empty item")
        try:
            out.extend(_expand(item))
        except ValueError as exc:
            raise ValueError(f"--source-addresses: {item!r}: {exc}") from None
        if len(out) > MAX_ADDRESSES:
            raise ValueError(f"--source-addresses: more than {MAX_ADDRESSES:,} addresses")
    if len(set(out)) != len(out):
        raise ValueError(f"--source-addresses {spec!r}: an address is listed twice")
    return out


def _expand(item: str) -> list[str]:
    if "/" in item:
        net = ipaddress.ip_network(item, strict=False)
        if net.num_addresses > MAX_ADDRESSES:
            raise ValueError(f"more than {MAX_ADDRESSES:,} addresses")
        hosts = list(net.hosts()) if net.num_addresses > 2 else list(net)
        return [str(a) for a in hosts]
    if "-" in item:
        first_s, _, last_s = item.partition("-")
        first, last = _address(first_s), _address(last_s)
        if first.version != last.version:
            raise ValueError("a range's ends must both be IPv4 or both IPv6")
        if int(last) < int(first):
            raise ValueError("a range must go up (first-last)")
        if int(last) - int(first) >= MAX_ADDRESSES:
            raise ValueError(f"more than {MAX_ADDRESSES:,} addresses")
        return [str(ipaddress.ip_address(n) if first.version == 4 else ipaddress.IPv6Address(n))
                for n in range(int(first), int(last) + 1)]
    return [str(_address(item))]


def _address(text: str) -> IpAddress:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not an IP address") from None


def unassignable(addresses: list[str]) -> list[str]:
    """One line per address this host cannot bind (not one of its addresses)."""
    problems: list[str] = []
    for addr in addresses:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        try:
            with socket.socket(fam, socket.SOCK_STREAM) as s:
                s.bind((addr, 0))
        except OSError as exc:
            problems.append(f"--source-addresses: {addr} is not assignable on this host "
                            f"({exc.strerror or exc})")
    return problems


def ephemeral_ports() -> int:
    """How many source ports the kernel hands out (per source address and destination)."""
    try:
        low, high = (int(v) for v in PORT_RANGE_FILE.read_text().split()[:2])
    except (OSError, ValueError):
        low, high = 32768, 60999
    return max(1, high - low + 1)


def _addresses_text(n: int | None) -> str:
    if n is None:
        return "one source address gives"
    return f"{n:,} address{'es' if n != 1 else ''} give{'s' if n == 1 else ''}"


def per_agent_problem(agents: int, addresses: int | None, destination: str,
                      ports: int | None = None) -> str | None:
    """Why ``agents`` long-lived connections to ``destination`` cannot all be
    open at once from these source addresses (None: they fit)."""
    ports = ephemeral_ports() if ports is None else ports
    n = addresses or 1
    busiest = math.ceil(agents / n)
    if busiest <= ports:
        return None
    fix = "add addresses" if addresses else "add --source-addresses"
    return (f"--source-addresses: {_addresses_text(addresses)} at most {n * ports:,} "
            f"connections to {destination}; {agents:,} agents need {agents:,}: {fix}"
            if addresses else
            f"{_addresses_text(None)} at most {ports:,} connections to {destination}; "
            f"{agents:,} agents with --connections per-agent need {agents:,}: {fix}")


def per_beat_problem(connections_per_second: float, addresses: int | None, destination: str,
                     ports: int | None = None) -> str | None:
    """Why a connection per request may run out of source ports: every closed
    connection keeps its port in TIME_WAIT for a minute (None: it fits)."""
    ports = ephemeral_ports() if ports is None else ports
    n = addresses or 1
    waiting = connections_per_second * TIME_WAIT_SECONDS
    if waiting <= n * ports:
        return None
    return (f"--connections per-beat: about {waiting:,.0f} connections to {destination} "
            f"stay in TIME_WAIT for {TIME_WAIT_SECONDS:g}s; {_addresses_text(addresses)} "
            f"{n * ports:,} ports: new connections may fail with 'address not available' "
            "(add --source-addresses, or rely on net.ipv4.tcp_tw_reuse)")


__all__ = ["ephemeral_ports", "parse", "per_agent_problem", "per_beat_problem", "unassignable"]
