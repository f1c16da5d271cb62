"""JUnit XML for CI systems: thresholds (and comparison verdicts) as test cases.

CI servers (GitHub Actions reporters, GitLab, Jenkins) show JUnit test cases
natively, so a failed threshold or a regression shows up as a failed test with
its observed value, next to the project's other tests.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _suite(name: str, cases: Sequence[tuple[str, str, float, str | None, str]]) -> ET.Element:
    """cases: (classname, name, time, failure message or None, system-out)."""
    failures = sum(1 for c in cases if c[3] is not None)
    suite = ET.Element("testsuite", name=name, tests=str(len(cases)), failures=str(failures),
                       errors="0", skipped="0")
    for classname, case_name, seconds, failure, out in cases:
        case = ET.SubElement(suite, "testcase", classname=classname, name=case_name,
                             time=f"{seconds:.3f}")
        if failure is not None:
            ET.SubElement(case, "failure", message=failure, type="failure").text = failure
        if out:
            ET.SubElement(case, "system-out").text = out
    return suite


def thresholds_suite(summary: dict[str, Any]) -> ET.Element:
    """One test case per threshold expression (failed thresholds are failures),
    and one for the run's validity (an inconclusive run is a failure)."""
    run = summary.get("run") or {}
    elapsed = float(run.get("elapsed") or 0.0)
    cases = []
    for t in summary.get("thresholds") or []:
        observed = t.get("observed")
        detail = f"observed {observed:g}" if isinstance(observed, int | float) else "no value"
        if t.get("reason"):
            detail += f" ({t['reason']})"
        failure = None if t.get("ok") else f"{t['metric']} {t['threshold']} failed: {detail}"
        cases.append(("fleetload.thresholds", f"{t['metric']} {t['threshold']}", elapsed,
                      failure, detail))
    if run.get("validity") is not None:
        cases.append(validity_case(summary))
    return _suite(f"fleetload thresholds ({run.get('id', '')})", cases)


def comparison_suite(comparison: dict[str, Any], fail_on_regression: float | None) -> ET.Element:
    """One test case per scenario and metric of ``Comparison.as_dict()``. A
    significant regression is a failure (only beyond ``fail_on_regression``
    percent when that is given, so the XML agrees with the exit code)."""
    cases = []
    for m in comparison.get("metrics") or []:
        change = m.get("change_pct")
        detail = (f"baseline {m['baseline']}, now {m['now']}, change "
                  + (f"{change:+.1f}%" if isinstance(change, int | float) else "-")
                  + f", 95% CI {m.get('ci95')} {m.get('ci_unit', '%')}: {m['verdict']}")
        failed = m["verdict"] == "regression" and (
            fail_on_regression is None
            or (isinstance(change, int | float) and abs(change) > fail_on_regression))
        cases.append((f"fleetload.compare.{m['scenario']}", m["metric"], 0.0,
                      f"{m['metric']} regressed: {detail}" if failed else None, detail))
    base = (comparison.get("baseline") or {}).get("name", "")
    return _suite(f"fleetload compare with baseline {base}", cases)


def write_junit(path: Path, suites: Sequence[ET.Element]) -> None:
    root = ET.Element("testsuites", tests=str(sum(int(s.get("tests", 0)) for s in suites)),
                      failures=str(sum(int(s.get("failures", 0)) for s in suites)))
    root.extend(suites)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def validity_case(summary: dict[str, Any]) -> tuple[str, str, float, str | None, str]:
    """The run's validity as one test case: failed when the run is inconclusive."""
    run = summary.get("run") or {}
    v = run.get("validity") or {}
    reasons = v.get("reasons") or []
    text = "; ".join(reasons) if reasons else "the run delivered the load asked for"
    failure = None
    if reasons and not v.get("allowed"):
        failure = f"inconclusive: the run did not deliver the load asked for: {text}"
    return ("fleetload.run", "run validity", float(run.get("elapsed") or 0.0), failure, text)
