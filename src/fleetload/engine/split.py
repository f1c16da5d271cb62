"""Exact division of integer amounts (VUs, iterations) over worker processes."""

from __future__ import annotations


def share(total: int, index: int, count: int) -> int:
    """Worker ``index``'s part of ``total``: parts differ by at most one and sum
    to ``total`` exactly."""
    return (total * (index + 1)) // count - (total * index) // count


def offset(total: int, index: int, count: int) -> int:
    """How many units the workers before ``index`` hold (for disjoint ID ranges)."""
    return (total * index) // count
