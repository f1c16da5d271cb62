"""Recording and merging: the collector, binning into HDR histograms, interval
snapshots, the run aggregate, thresholds, custom metrics and checks, the HTTP
recording seam and failure samples."""

__all__ = [
    "aggregate", "binning", "checks", "collector", "custom", "failure_samples", "histogram",
    "http_series", "http_timing", "kinds", "scope", "snapshot", "thresholds",
]
