"""extract_code on a corpus of realistic chat replies. Every case is checked by running the
extracted program against the real HumanEval tests (plain exec: these are known solutions)."""

from __future__ import annotations

import pytest
from support import humaneval_problems

from aibench.harnesses.extraction import extract_code, fenced_blocks, strip_think

P = {p.task_id: p for p in humaneval_problems()}
F = "```"


def passes(program: str, task_id: str) -> bool:
    ns: dict = {}
    try:
        exec(compile(program + "\n" + P[task_id].tests, f"<{task_id}>", "exec"), ns)  # noqa: S102
    except BaseException:  # noqa: BLE001 - any exception is a failing candidate
        return False
    return True


HAS_CLOSE = """from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i != j and abs(a - b) < threshold:
                return True
    return False"""

HAS_CLOSE_NO_IMPORT = HAS_CLOSE.split("\n\n\n", 1)[1]

# (id, task, reply)
CORPUS = [
    (
        "fenced-full",
        "HumanEval/0",
        f"Here is the implementation:\n\n{F}python\n{HAS_CLOSE}\n{F}\n\nThis compares every pair.",
    ),
    ("import-omitted", "HumanEval/0", f"Sure!\n{F}python\n{HAS_CLOSE_NO_IMPORT}\n{F}"),
    ("body-only-indented", "HumanEval/2", f"{F}python\n    return number % 1.0\n{F}"),
    ("body-only-unindented", "HumanEval/2", f"You can just do:\n{F}python\nreturn number % 1.0\n{F}"),
    ("unlabelled-fence", "HumanEval/23", f"{F}\ndef strlen(string: str) -> int:\n    return len(string)\n{F}"),
    (
        "closing-fence-on-last-line",
        "HumanEval/23",
        f"{F}python\ndef strlen(string: str) -> int:\n    return len(string){F}\nDone.",
    ),
    (
        "unclosed-fence",
        "HumanEval/23",
        f"Here you go:\n{F}python\ndef strlen(string: str) -> int:\n    return len(string)\n",
    ),
    ("tilde-fence", "HumanEval/23", "~~~py\ndef strlen(string: str) -> int:\n    return len(string)\n~~~"),
    (
        "usage-block-first",
        "HumanEval/23",
        f"Usage:\n{F}python\nprint(strlen('abc'))\n{F}\nImplementation:\n{F}python\n"
        f"def strlen(string: str) -> int:\n    return len(string)\n{F}",
    ),
    (
        "other-language-blocks",
        "HumanEval/23",
        f"Install nothing:\n{F}bash\npip install nothing\n{F}\n{F}python\ndef strlen(string: str) -> int:\n"
        f"    return len(string)\n{F}\n{F}text\n>>> strlen('ab')\n2\n{F}",
    ),
    (
        "revised-answer-last",
        "HumanEval/2",
        f"First try:\n{F}python\ndef truncate_number(number: float) -> float:\n    return int(number)\n{F}\n"
        f"Wait, that returns the integer part. Fixed:\n{F}python\ndef truncate_number(number: float) -> float:\n"
        f"    return number % 1.0\n{F}",
    ),
    (
        "think-block-with-fake-code",
        "HumanEval/23",
        f"<think>\nMaybe {F}python\ndef strlen(string):\n    return 0\n{F} no...\n</think>\n\n"
        f"{F}python\ndef strlen(string: str) -> int:\n    return len(string)\n{F}",
    ),
    (
        "lone-closing-think",
        "HumanEval/23",
        f"I should count characters.\n</think>\n{F}python\ndef strlen(string: str) -> int:\n    return len(string)\n{F}",
    ),
    (
        "no-fence-prose-around",
        "HumanEval/23",
        "Certainly. The function is:\n\ndef strlen(string: str) -> int:\n    return len(string)\n\n"
        "This returns the number of characters.",
    ),
    (
        "helper-from-prompt-kept",
        "HumanEval/38",
        f"{F}python\ndef decode_cyclic(s: str):\n    return encode_cyclic(encode_cyclic(s))\n{F}",
    ),
    (
        "helper-from-prompt-kept-2",
        "HumanEval/10",
        f"{F}python\ndef make_palindrome(string: str) -> str:\n    if not string:\n        return ''\n"
        f"    i = 0\n    while not is_palindrome(string[i:]):\n        i += 1\n"
        f"    return string + string[:i][::-1]\n{F}",
    ),
    (
        "model-defines-own-helper-after",
        "HumanEval/23",
        f"{F}python\ndef strlen(string: str) -> int:\n    return _count(string)\n\n\n"
        f"def _count(s):\n    n = 0\n    for _ in s:\n        n += 1\n    return n\n{F}",
    ),
    (
        "main-guard-with-input-dropped",
        "HumanEval/23",
        f"{F}python\ndef strlen(string: str) -> int:\n    return len(string)\n\n\n"
        f'if __name__ == "__main__":\n    s = input()\n    print(strlen(s))\n{F}',
    ),
    ("repeats-full-prompt", "HumanEval/2", f"{F}python\n{P['HumanEval/2'].prompt}\n    return number % 1.0\n{F}"),
    (
        "signature-without-docstring",
        "HumanEval/0",
        f"{F}python\nfrom typing import List\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
        f"    s = sorted(numbers)\n    return any(b - a < threshold for a, b in zip(s, s[1:]))\n{F}",
    ),
    (
        "crlf-line-endings",
        "HumanEval/23",
        f"{F}python\r\ndef strlen(string: str) -> int:\r\n    return len(string)\r\n{F}\r\n",
    ),
]


@pytest.mark.parametrize("case,task_id,reply", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus_reply_extracts_to_a_passing_program(case, task_id, reply):
    program = extract_code(reply, P[task_id])
    assert passes(program, task_id), f"{case}:\n{program}"


def test_a_wrong_answer_stays_wrong():
    reply = f"{F}python\ndef strlen(string: str) -> int:\n    return 0\n{F}"
    assert not passes(extract_code(reply, P["HumanEval/23"]), "HumanEval/23")


def test_raw_completion_stop_words_are_not_applied():
    """A complete program with several functions and an `if` is kept whole (BigCode's `\\ndef`
    and `\\nif` stop words would cut it after the first function)."""
    reply = CORPUS[16][2]
    program = extract_code(reply, P["HumanEval/23"])
    assert program.startswith("def strlen") and "\n\n\ndef _count(s):" in program


def test_prompt_helpers_are_not_duplicated_when_the_reply_has_them():
    reply = f"{F}python\n{P['HumanEval/38'].prompt}\n    return encode_cyclic(encode_cyclic(s))\n{F}"
    program = extract_code(reply, P["HumanEval/38"])
    assert program.count("def encode_cyclic") == 1 and passes(program, "HumanEval/38")


def test_missing_import_is_prepended_once():
    program = extract_code(f"{F}python\n{HAS_CLOSE_NO_IMPORT}\n{F}", P["HumanEval/0"])
    assert program.startswith("from typing import List\n") and program.count("from typing import List") == 1


def test_fence_parsing_details():
    blocks = fenced_blocks(f"a\n{F}Python\nx = 1{F}\nb\n{F}\ny = 2\n")
    assert [(b.label, b.code) for b in blocks] == [("python", "x = 1"), ("", "y = 2\n")]
    assert strip_think("<think>\nreasoning only, never closed") == ""
    assert strip_think("<think>a</think>b<think>c</think>d") == "bd"
