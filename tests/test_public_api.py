"""The names a load script may import from ``fleetload``: pinned, so a change
to the public surface is a decision, not an accident."""

from __future__ import annotations

import fleetload

PUBLIC = [
    "VU", "Agent", "ConfigError", "ConstantArrivalRate", "ConstantVUs", "Counter", "Duration",
    "Executor", "ExitCode", "Fleet", "FleetloadError", "Gauge", "GrpcAgent", "HttpAgent",
    "PerVUIterations", "RampingArrivalRate", "RampingVUs", "Rate", "Response", "Scenario",
    "ScriptError", "SharedIterations", "Stage", "Trend", "__version__", "check", "env", "param",
    "scenario",
]


def test_public_names_are_pinned() -> None:
    assert sorted(fleetload.__all__) == sorted(PUBLIC)


def test_every_public_name_resolves() -> None:
    for name in fleetload.__all__:
        assert getattr(fleetload, name) is not None, name
