"""Language detection of generated programs: fence info string first, then syntax cues."""

from __future__ import annotations

import pytest

from aibench.harnesses.language_detection import detect, mismatch

PY = """from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    for idx, elem in enumerate(numbers):
        for idx2, elem2 in enumerate(numbers):
            if idx != idx2 and abs(elem - elem2) < threshold:
                return True
    return False
"""
JS = """//Check if in given array of numbers, are any two numbers closer to each other than
// given threshold.
function has_close_elements(numbers, threshold){
  for (let i = 0; i < numbers.length; i++) {
    for (let j = i + 1; j < numbers.length; j++) {
      if (Math.abs(numbers[i] - numbers[j]) < threshold) return true;
    }
  }
  return false;
}
"""
JAVA = """import java.util.*;
import org.javatuples.*;
class Problem {
    public static boolean hasCloseElements(ArrayList<Float> numbers, float threshold) {
        for (int i = 0; i < numbers.size(); i++)
            for (int j = i + 1; j < numbers.size(); j++)
                if (Math.abs(numbers.get(i) - numbers.get(j)) < threshold) return true;
        return false;
    }
}
"""
CPP = """#include<assert.h>
#include<bits/stdc++.h>
bool has_close_elements(std::vector<float> numbers, float threshold){
    for (int i = 0; i < numbers.size(); i++)
        for (int j = i + 1; j < numbers.size(); j++)
            if (std::abs(numbers[i] - numbers[j]) < threshold) return true;
    return false;
}
"""
JS_ARROW = "const add = (a, b) => a + b;\nmodule.exports = { add };\n"
CPP_NO_INCLUDE = "class Solution {\npublic:\n    int add(int a, int b) { return a + b; }\n};\n"


@pytest.mark.parametrize(
    "text,lang",
    [
        (PY, "python"),
        (JS, "javascript"),
        (JAVA, "java"),
        (CPP, "cpp"),
        (JS_ARROW, "javascript"),
        (CPP_NO_INCLUDE, "cpp"),
    ],
)
def test_syntax_cues(text, lang):
    got, how = detect(text)
    assert got == lang, how
    assert how.startswith("syntax cues")


@pytest.mark.parametrize(
    "info,lang",
    [
        ("python", "python"),
        ("py", "python"),
        ("js", "javascript"),
        ("JavaScript", "javascript"),
        ("java", "java"),
        ("c++", "cpp"),
        ("cpp", "cpp"),
        ("rust", "rust"),
    ],
)
def test_fence_info_string_wins(info, lang):
    text = f"Here is the solution:\n\n```{info}\n{PY}```\n"
    got, how = detect(text)
    assert got == lang and how == f"fence info string {info.lower()!r}"


def test_bare_fence_falls_back_to_cues():
    assert detect(f"```\n{JAVA}```")[0] == "java"


@pytest.mark.parametrize("text", ["", "return x", "42\n"])
def test_undecided(text):
    assert detect(text)[0] is None


def test_mismatch_is_a_clear_reason_not_a_crash():
    assert mismatch(PY, "java") == (
        "language mismatch: the program looks like python (syntax cues (python: "
        "def ...:, import, block colon, elif/None/self)), the task's language is java"
    )
    assert mismatch(JAVA, "java") is None
    assert mismatch("42", "cpp") is None  # undecided: no claim
    assert "looks like rust" in mismatch("```rust\nfn main() {}\n```", "cpp")


# ------------------------------------------------------------------------------ failure reasons
def _verdict(status, error="SyntaxError: invalid syntax", **detail):
    from aibench.types import Status, Verdict

    return Verdict(Status(status), exit_code=1, error=error, detail=detail)


def _problem(language):
    from types import SimpleNamespace

    return SimpleNamespace(language=language)


def test_a_failed_program_in_another_language_gets_the_mismatch_as_its_reason():
    from aibench.harnesses.language_detection import explain_language_mismatch

    v = explain_language_mismatch(
        _problem("java"), PY, _verdict("compile_error", "compile error (exit 1): x", reason="compile_error")
    )
    assert v.status.value == "compile_error"  # the execution's status is kept
    assert v.error.startswith("language mismatch: the program looks like python (syntax cues")
    assert v.error.endswith("the task's language is java (compile_error: compile error (exit 1): x)")
    assert v.detail["reason"] == "language_mismatch" and v.detail["execution_reason"] == "compile_error"
    assert v.detail["language_mismatch"]["detected"] == "python" and v.detail["language_mismatch"]["expected"] == "java"
    assert v.detail["execution_error"] == "compile error (exit 1): x"


def test_passes_matches_and_undecided_programs_are_left_alone():
    from aibench.harnesses.language_detection import explain_language_mismatch
    from aibench.types import Status, Verdict

    passed = Verdict(Status.PASSED)
    assert explain_language_mismatch(_problem("java"), PY, passed) is passed  # never turns a pass into a failure
    failed = _verdict("failed")
    assert explain_language_mismatch(_problem("python"), PY, failed) is failed
    assert explain_language_mismatch(_problem("cpp"), "42", failed) is failed
    timeout = _verdict("timeout")
    assert explain_language_mismatch(_problem("java"), PY, timeout) is timeout
    assert explain_language_mismatch(_problem("java"), None, failed) is failed


def test_no_canonical_program_of_any_task_is_claimed_to_be_in_another_language():
    """Detection runs on every failed program: it must not misname honest ones (HumanEval's 164
    canonical programs, the test data of every MultiPL-E language and MBPP)."""
    from pathlib import Path

    from aibench.harnesses.bigcode.harness import task_registry

    data = Path(__file__).resolve().parent / "bigcode" / "data"
    reg = task_registry()
    tasks = [reg["humaneval"](), reg["mbpp"](data_path=str(data / "mbpp.jsonl"))]
    tasks += [reg[f"multiple-{c}"](data_path=str(data / f"humaneval-{c}.jsonl")) for c in ("js", "java", "cpp", "py")]
    checked = 0
    for task in tasks:
        for p in task.problems():
            assert mismatch(p.canonical_solution, p.language) is None, (p.task_id, detect(p.canonical_solution))
            checked += 1
    assert checked == 164 + 7 + 4 * 6
