"""Metrics over per-sample verdicts."""
