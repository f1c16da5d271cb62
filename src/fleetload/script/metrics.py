"""Custom metrics as scripts and their loader see them (:mod:`fleetload.metrics.custom`)."""

from fleetload.metrics.custom import DECLARED_OUTSIDE as DECLARED
from fleetload.metrics.custom import Counter, Gauge, Rate, Trend

__all__ = ["DECLARED", "Counter", "Gauge", "Rate", "Trend"]
