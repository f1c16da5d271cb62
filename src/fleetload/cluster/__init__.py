"""Runs across a Ray cluster: one actor per node runs the local worker pool,
the driver merges the nodes' intervals exactly as it merges local workers'.

Ray is used for placement, control and transport only, and is imported
lazily: nothing here is loaded by a local run.
"""
