"""``plan`` and ``run`` read durations with one grammar, days included."""

from __future__ import annotations

import json

import pytest

from fleetload.capacity.plan import parse_span
from fleetload.durations import parse_duration
from fleetload.errors import ConfigError
from tests.conftest import run_cli


@pytest.mark.parametrize("text", ["47d", "1d12h", "90s", "1h30m", "250ms", "2"])
def test_plan_and_run_agree(text: str) -> None:
    assert parse_span(text, what="--validity") == parse_duration(text, what="--duration")


def test_plan_rejects_what_run_rejects() -> None:
    for text in ("5 days", "1d-2h", ""):
        with pytest.raises(ConfigError) as plan_error:
            parse_span(text, what="--validity")
        with pytest.raises(ConfigError):
            parse_duration(text, what="--duration")
        assert "--validity" in str(plan_error.value)
    with pytest.raises(ConfigError, match="--validity must be greater than 0, got '0s'"):
        parse_span("0s", what="--validity")


def test_plan_command_takes_days_as_hours() -> None:
    by_days = run_cli("plan", "--agents", "100", "--heartbeat-interval", "1d", "--json")
    by_hours = run_cli("plan", "--agents", "100", "--heartbeat-interval", "24h", "--json")
    assert by_days.code == by_hours.code == 0, by_days.stderr + by_hours.stderr
    assert json.loads(by_days.stdout) == json.loads(by_hours.stdout)
