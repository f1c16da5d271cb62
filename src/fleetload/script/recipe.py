"""A picklable recipe for a plan, so every worker process builds the same one."""

from __future__ import annotations

from dataclasses import dataclass

from fleetload.engine.plan import Plan
from fleetload.errors import ConfigError
from fleetload.script.loader import load_script
from fleetload.script.oneliner import OneLiner, oneliner_plan
from fleetload.script.options import Overrides


@dataclass(frozen=True)
class PlanRecipe:
    overrides: Overrides
    script: str | None = None
    oneliner: OneLiner | None = None

    def build(self) -> Plan:
        if self.oneliner is not None:
            return oneliner_plan(self.oneliner, self.overrides)
        if self.script is None:
            raise ConfigError("nothing to run: give a script, a pack name or --url")
        return load_script(self.script, self.overrides)
