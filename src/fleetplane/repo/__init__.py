"""Repository layer: all SQL lives here, one module per aggregate."""
