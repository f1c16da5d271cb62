"""Protocol clients used by load scripts (HTTP/1.1 today)."""
