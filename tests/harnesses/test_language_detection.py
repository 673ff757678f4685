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
