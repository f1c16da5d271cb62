"""The HTML report of a finished run (charts and tables, one self-contained file)."""

__all__ = ["html", "tables"]
