"""``fleetload plan``: a fleet description → offered load, and with a ceiling,
how large a fleet the target supports."""

from __future__ import annotations

import json

import click

from .errors import handle_errors


@click.command("plan")
@click.option("--agents", type=int, required=True, help="Number of agents.")
@click.option("--heartbeat-interval", help="Agent heartbeat interval, e.g. 60s.")
@click.option("--work-poll-interval", help="Agent work-poll interval, e.g. 30s.")
@click.option("--certs", type=int, default=0, help="Certificates under management.")
@click.option("--validity", help="Certificate validity, e.g. 47d.")
@click.option("--renew-before", default="30%", show_default=True,
              help="Renew with this much life left: a percentage (30%), fraction or duration (10d).")
@click.option("--api-rps", type=float, default=0.0, help="Other API requests per second.")
@click.option("--ceiling", "ceilings", multiple=True, metavar="[ENDPOINT=]CEILING_JSON",
              help="A ceiling result; ENDPOINT is heartbeat, work-poll, renewal, api or total "
                   "(default: total). Repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def plan_cmd(agents: int, heartbeat_interval: str | None, work_poll_interval: str | None,
             certs: int, validity: str | None, renew_before: str, api_rps: float,
             ceilings: tuple[str, ...], as_json: bool) -> None:
    """Turn a fleet description into offered load per endpoint, with the arithmetic shown.

    With --ceiling it answers: supports about N agents / M certificates at this
    cadence, limited by X.
    """
    from fleetload.capacity.plan import (
        Fleet,
        load_ceiling,
        offered_load,
        parse_span,
        render_text,
        to_json,
        with_ceilings,
    )

    def dur(v: str | None, what: str) -> float | None:
        return None if v is None else parse_span(v, what=what)

    fleet = Fleet(agents=agents, heartbeat_interval=dur(heartbeat_interval, "--heartbeat-interval"),
                  work_poll_interval=dur(work_poll_interval, "--work-poll-interval"), certs=certs,
                  validity=dur(validity, "--validity"), renew_before=renew_before, api_rps=api_rps)
    plan = offered_load(fleet)
    if ceilings:
        plan = with_ceilings(plan, [load_ceiling(c) for c in ceilings])
    click.echo(json.dumps(to_json(plan), indent=2) if as_json else render_text(plan), nl=not as_json)

