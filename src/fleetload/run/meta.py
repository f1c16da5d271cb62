"""``meta.json``: the methodology of a run, written when it starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleetload.engine.plan import Plan
from fleetload.redact import redact_url
from fleetload.results.meta import git_commit, host_info, iso
from fleetload.run.config import RunConfig
from fleetload.script.recipe import PlanRecipe


def oneliner_url(recipe: PlanRecipe) -> str | None:
    return recipe.oneliner.url if recipe.oneliner else None


def build_meta(run_id: str, plan: Plan, recipe: PlanRecipe, cfg: RunConfig, *,
               start_wall: float, target_version: dict[str, Any] | None) -> dict[str, Any]:
    script = Path(recipe.script) if recipe.script else None
    client = plan.client
    return {
        "run_id": run_id,
        "source": (plan.source if not recipe.oneliner
                   else f"{recipe.oneliner.method.upper()} {redact_url(recipe.oneliner.url)}"),
        "started_at": iso(start_wall),
        "host": host_info(),
        "git": git_commit(script.resolve()) if script and script.exists() else None,
        "command": cfg.argv,
        "workers": cfg.workers,
        "target": redact_url(client.target or oneliner_url(recipe)),
        "target_version": target_version,
        "client": {"insecure": client.insecure, "ca_file": client.ca_file,
                   "token": bool(client.token), "timeout": client.timeout,
                   "connect_timeout": client.connect_timeout, "keep_alive": client.keep_alive,
                   "header_names": sorted(client.headers)},
        "env_keys": sorted(recipe.overrides.env),
        "scenarios": {s.name: s.executor.options() for s in plan.scenarios},
        "thresholds": {ts.key: [t.source for t in ts.thresholds] for ts in plan.thresholds},
        "observers": [o.source for o in cfg.observers],
        "outputs": [o.description() for o in cfg.outputs],
    }
