import pytest

from fleetload.durations import format_duration, parse_duration
from fleetload.errors import ConfigError
from fleetload.metrics.http_series import default_name
from fleetload.redact import redact_argv, redact_url


def test_durations():
    assert parse_duration("90s") == 90
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    assert parse_duration(5) == 5.0
    assert parse_duration("1.5m") == 90
    for bad in ["", "x", "5 m", "-1s", "1w", "m5", "5mm", "d"]:
        with pytest.raises(ConfigError):
            parse_duration(bad)
    assert format_duration(125) == "2m05s"


def test_default_request_names_collapse_ids():
    assert default_name("/api/v1/agents/ag-loadtest-00042/heartbeat") == "/api/v1/agents/{id}/heartbeat"
    assert default_name("http://h:8080/api/v2/certificates?per_page=50") == "/api/v2/certificates"
    assert default_name("/acme/profile/default/directory") == "/acme/profile/default/directory"


def test_redaction():
    assert redact_url("https://user:pw@h.example/x?token=abc&page=2") == "https://h.example/x?token=***&page=2"
    argv = ["run", "--token", "s3cret", "-H", "Authorization: Bearer zzz", "-e", "API_KEY=k",
            "-e", "REGION=eu", "--target=https://u:p@h/"]
    out = " ".join(redact_argv(argv))
    for secret in ("s3cret", "zzz", "=k", "u:p"):
        assert secret not in out
    assert "REGION=eu" in out


def test_durations_accept_days_everywhere() -> None:
    from fleetload.durations import parse_duration

    assert parse_duration("2d") == 172800.0
    assert parse_duration("1d12h") == 129600.0
    assert parse_duration("1d30s") == 86430.0
