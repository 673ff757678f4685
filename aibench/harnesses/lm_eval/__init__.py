"""``harness=lm_eval``: EleutherAI lm-evaluation-harness over aibench's model backends and sandbox
(see :mod:`aibench.harnesses.lm_eval.harness`). Nothing here imports lm_eval at import time."""
