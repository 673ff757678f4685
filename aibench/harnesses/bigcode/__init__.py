"""BigCode-evaluation-harness semantics: tasks (one module each) and the harness that runs them."""
