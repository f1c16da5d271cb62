"""``fleetload completion bash|zsh|fish``: the shell completion script."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_cmd(shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash:  eval "$(fleetload completion bash)"       (in ~/.bashrc)
    zsh:   eval "$(fleetload completion zsh)"        (in ~/.zshrc)
    fish:  fleetload completion fish > ~/.config/fish/completions/fleetload.fish
    """
    from fleetload.cli.main import cli

    cls = get_completion_class(shell)
    assert cls is not None  # the choice above lists only supported shells
    click.echo(cls(cli, {}, "fleetload", "_FLEETLOAD_COMPLETE").source())
