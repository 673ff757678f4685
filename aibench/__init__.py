"""aibench: a declarative benchmark suite for code LLMs (Hydra run graph, sandboxed execution,
BigCode-exact pass@k, MLflow tracking)."""

__version__ = "0.1.0"
