"""SQL migrations applied in file-name order by fleetplane.db.migrate."""
