"""Outputs: where each merged interval of a run goes (see :mod:`fleetload.outputs.base`)."""

from fleetload.outputs.base import (
    Interval,
    Output,
    RunControl,
    RunEnd,
    RunStart,
    ScenarioInfo,
    WithRunControl,
)

__all__ = ["Interval", "Output", "RunControl", "RunEnd", "RunStart", "ScenarioInfo",
           "WithRunControl"]
