"""Hydra multirun sweeps: the callback that gives a sweep its id, MLflow parent run and report."""
