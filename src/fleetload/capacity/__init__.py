"""Capacity: server-side observation, ceiling search and fleet sizing.

* ``observe`` — ``--observe KIND=WHAT`` observers (Prometheus, PostgreSQL, a local process).
* ``ceiling`` — step the open-loop rate until an SLO breaks, then bisect.
* ``constraint`` — name the binding constraint at the knee from the observations.
* ``plan`` — turn a fleet description into offered load per endpoint.
"""
