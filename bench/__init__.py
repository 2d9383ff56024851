"""`make bench`: our data path and trainer against baselines, measured in the same run (see docs/benchmarks.md)."""
