"""Training: device choice, the batch loop, and holdout metrics."""
