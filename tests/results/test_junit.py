"""``fleetload run --junit``: thresholds as JUnit test cases."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def cases(path):
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return root, {c.get("name"): c for c in root.iter("testcase")}


def test_junit_has_one_case_per_threshold_and_failures(fast_run, slow_run, results_root):
    # three thresholds and the run's validity
    root, ok = cases(results_root.parent / "fast-junit.xml")
    assert root.get("failures") == "0" and len(ok) == 4
    assert all(c.find("failure") is None for c in ok.values())
    assert ok["run validity"].find("system-out").text == "the run delivered the load asked for"
    root, slow = cases(results_root.parent / "slow-junit.xml")
    assert root.get("failures") == "1" and len(slow) == 4
    failing = slow["http_req_duration{scenario:browse} p(99)<5"]
    failure = failing.find("failure")
    assert failure is not None and "observed" in failure.get("message")
    assert slow["http_req_duration{scenario:api} p(95)<2000"].find("failure") is None
