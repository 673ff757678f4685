"""Sandboxes: isolated execution of untrusted programs."""
