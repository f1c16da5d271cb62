"""Loading a load script or pack into a plan: the loader, options and
overrides, parameters, the one-liner, the per-load context."""

__all__ = [
    "context", "loader", "model", "oneliner", "options", "params", "recipe", "schedule_flags",
]
