"""``fleetload init NAME``: copy a built-in pack into the current folder as a starting point."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import click

from fleetload.errors import ConfigError

from .errors import handle_errors


def describe(path: Path) -> str:
    """The first line of a pack's module docstring (without its ``name:`` prefix)."""
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except (OSError, SyntaxError, ValueError):
        return ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    name = path.stem.replace("_", "-")
    for prefix in (f"{name}:", f"{name} -", f"{name} —"):
        if first.startswith(prefix):
            return first[len(prefix):].strip()
    return first


def list_packs() -> list[tuple[str, str]]:
    from fleetload.packs import available, pack_path

    out = []
    for name in available():
        path = pack_path(name)
        if path is not None:
            out.append((name, describe(path)))
    return out


@click.command("init")
@click.argument("name", required=False)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--list", "list_", is_flag=True, help="List the built-in packs.")
@handle_errors
def init_cmd(name: str | None, force: bool, list_: bool) -> None:
    """Write built-in pack NAME to ./<name>.py, to read, edit and run.

    `fleetload init agent-storm` writes agent_storm.py; run it with
    `fleetload run agent_storm.py --target URL --token KEY`. `--list` shows the packs.
    """
    from fleetload.packs import available, pack_path

    if list_:
        packs = list_packs()
        width = max((len(n) for n, _ in packs), default=0)
        for pack, text in packs:
            click.echo(f"{pack:<{width}}  {text}".rstrip())
        return
    if not name:
        raise ConfigError("give a pack NAME (see 'fleetload init --list')")
    source = pack_path(name)
    if source is None:
        raise ConfigError(f"no built-in pack {name!r}; the packs are: {', '.join(available())}")
    dest = Path.cwd() / source.name
    if dest.exists() and not force:
        raise ConfigError(f"{dest.name} already exists; use --force to overwrite it")
    dest.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    click.echo(f"wrote {dest.name}: run it with 'fleetload run {dest.name} --target URL --token KEY'",
               file=sys.stdout)
