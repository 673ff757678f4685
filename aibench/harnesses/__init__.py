"""Harnesses: benchmark semantics (tasks, prompts, postprocessing, tests) and the run loop."""
