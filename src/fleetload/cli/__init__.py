"""The ``fleetload`` command: one module per subcommand, imported when it runs."""

__all__ = [
    "baseline", "ceiling", "cleanup", "compare", "completion", "demo", "errors", "export",
    "init", "main", "plan", "report", "run", "runs", "script_help",
]
