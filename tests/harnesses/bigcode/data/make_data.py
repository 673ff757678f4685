"""Writes the small task data files next to it (run: python tests/harnesses/bigcode/data/make_data.py).

Our own problems (not HumanEval's or MBPP's), in the public datasets' layouts with their upstream
field names:
- ``mbpp.jsonl``: the HF ``mbpp`` test split (task_id, text, code, test_list, test_setup_code,
  challenge_test_list); ``code`` is the canonical solution;
- ``humaneval-{js,java,cpp,py}.jsonl``: ``nuprl/MultiPL-E`` configs ``humaneval-<lang>`` (name,
  language, prompt, doctests, original, prompt_terminology, tests, stop_tokens) as MultiPL-E's
  translators write them (comment prompt, test-suite prefix/suffix, stop tokens), plus
  ``canonical_solution``: aibench's extension, the text that continues the raw prompt (without the
  tests), which ``model=reference`` runs.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name, description, python signature, doctest (call, result), per-language details
PROBLEMS = [
    {
        "name": "add",
        "doc": "Return the sum of x and y.",
        "py": ("add(x: int, y: int) -> int", "    return x + y\n"),
        "js": ("add(x, y)", "  return x + y;\n}\n"),
        "java": ("add", "long add(long x, long y)", "        return x + y;\n"),
        "cpp": ("long add(long x, long y)", "    return x + y;\n"),
        "cases": [("2, 3", "5"), ("-4, 4", "0"), ("100, 23", "123")],
        "ret": "long",
    },
    {
        "name": "count_vowels",
        "doc": "Count the vowels (a, e, i, o, u, either case) in the string s.",
        "py": ("count_vowels(s: str) -> int", "    return sum(1 for ch in s.lower() if ch in 'aeiou')\n"),
        "js": (
            "count_vowels(s)",
            "  let n = 0;\n  for (const ch of s.toLowerCase()) {\n    if ('aeiou'.includes(ch)) n++;\n  }\n  return n;\n}\n",
        ),
        "java": (
            "countVowels",
            "long countVowels(String s)",
            "        long n = 0;\n        for (char ch : s.toLowerCase().toCharArray()) {\n"
            '            if ("aeiou".indexOf(ch) >= 0) n++;\n        }\n        return n;\n',
        ),
        "cpp": (
            "long count_vowels(std::string s)",
            "    long n = 0;\n    for (char ch : s) {\n        char c = std::tolower(ch);\n"
            "        if (c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u') n++;\n    }\n    return n;\n",
        ),
        "cases": [('"hello"', "2"), ('"AEIOUxyz"', "5"), ('""', "0"), ('"rhythm"', "0")],
        "ret": "long",
    },
    {
        "name": "reverse_words",
        "doc": "Return the words of s (separated by single spaces) in reverse order, joined by single spaces.",
        "py": ("reverse_words(s: str) -> str", "    return ' '.join(reversed(s.split(' ')))\n"),
        "js": ("reverse_words(s)", "  return s.split(' ').reverse().join(' ');\n}\n"),
        "java": (
            "reverseWords",
            "String reverseWords(String s)",
            '        List<String> words = new ArrayList<>(Arrays.asList(s.split(" ", -1)));\n'
            '        Collections.reverse(words);\n        return String.join(" ", words);\n',
        ),
        "cpp": (
            "std::string reverse_words(std::string s)",
            "    std::vector<std::string> words;\n    std::string cur;\n    for (char ch : s) {\n"
            "        if (ch == ' ') { words.push_back(cur); cur.clear(); } else cur += ch;\n    }\n"
            "    words.push_back(cur);\n    std::string out;\n"
            "    for (size_t i = words.size(); i-- > 0;) { out += words[i]; if (i) out += ' '; }\n    return out;\n",
        ),
        "cases": [('"the quick fox"', '"fox quick the"'), ('"one"', '"one"'), ('"a b"', '"b a"')],
        "ret": "String",
    },
    {
        "name": "max_element",
        "doc": "Return the largest number of the non-empty list l.",
        "py": (
            "max_element(l: List[int]) -> int",
            "    best = l[0]\n    for x in l:\n        if x > best:\n            best = x\n    return best\n",
        ),
        "js": ("max_element(l)", "  return Math.max(...l);\n}\n"),
        "java": ("maxElement", "long maxElement(ArrayList<Long> l)", "        return Collections.max(l);\n"),
        "cpp": ("long max_element(std::vector<long> l)", "    return *std::max_element(l.begin(), l.end());\n"),
        "cases": [("[1, 5, 3]", "5"), ("[-7, -2, -9]", "-2"), ("[4]", "4")],
        "ret": "long",
        "list_arg": True,
    },
    {
        "name": "is_palindrome",
        "doc": "Return whether the string s reads the same backwards.",
        "py": ("is_palindrome(s: str) -> bool", "    return s == s[::-1]\n"),
        "js": ("is_palindrome(s)", "  return s === s.split('').reverse().join('');\n}\n"),
        "java": (
            "isPalindrome",
            "boolean isPalindrome(String s)",
            "        return new StringBuilder(s).reverse().toString().equals(s);\n",
        ),
        "cpp": ("bool is_palindrome(std::string s)", "    return std::equal(s.begin(), s.end(), s.rbegin());\n"),
        "cases": [('"level"', "True"), ('"abca"', "False"), ('""', "True")],
        "ret": "boolean",
    },
    {
        "name": "sum_multiples",
        "doc": "Return the sum of the natural numbers below n that are multiples of 3 or 5.",
        "py": ("sum_multiples(n: int) -> int", "    return sum(i for i in range(n) if i % 3 == 0 or i % 5 == 0)\n"),
        "js": (
            "sum_multiples(n)",
            "  let s = 0;\n  for (let i = 0; i < n; i++) if (i % 3 === 0 || i % 5 === 0) s += i;\n  return s;\n}\n",
        ),
        "java": (
            "sumMultiples",
            "long sumMultiples(long n)",
            "        long s = 0;\n        for (long i = 0; i < n; i++) if (i % 3 == 0 || i % 5 == 0) s += i;\n        return s;\n",
        ),
        "cpp": (
            "long sum_multiples(long n)",
            "    long s = 0;\n    for (long i = 0; i < n; i++) if (i % 3 == 0 || i % 5 == 0) s += i;\n    return s;\n",
        ),
        "cases": [("10", "23"), ("1", "0"), ("16", "60")],
        "ret": "long",
    },
    {
        "name": "running_max",
        "doc": "Return the list of running maxima of l: element i is the largest of l[0..i].",
        "py": (
            "running_max(l: List[int]) -> List[int]",
            "    out = []\n    for x in l:\n        out.append(x if not out or x > out[-1] else out[-1])\n    return out\n",
        ),
        "js": (
            "running_max(l)",
            "  const out = [];\n  for (const x of l) out.push(out.length && out[out.length - 1] > x ? out[out.length - 1] : x);\n  return out;\n}\n",
        ),
        "java": (
            "runningMax",
            "ArrayList<Long> runningMax(ArrayList<Long> l)",
            "        ArrayList<Long> out = new ArrayList<>();\n        for (Long x : l) out.add(out.isEmpty() ? x : Math.max(out.get(out.size() - 1), x));\n        return out;\n",
        ),
        "cpp": (
            "std::vector<long> running_max(std::vector<long> l)",
            "    std::vector<long> out;\n    for (long x : l) out.push_back(out.empty() ? x : std::max(out.back(), x));\n    return out;\n",
        ),
        "cases": [("[1, 3, 2, 5]", "[1, 3, 3, 5]"), ("[]", "[]"), ("[-1, -5]", "[-1, -1]")],
        "ret": "list",
        "list_arg": True,
    },
    {
        "name": "min_max",
        "doc": "Return a tuple (smallest, largest) of the non-empty list l.",
        "py": ("min_max(l: List[int]) -> Tuple[int, int]", "    return (min(l), max(l))\n"),
        "js": ("min_max(l)", "  return [Math.min(...l), Math.max(...l)];\n}\n"),
        "java": (
            "minMax",
            "Pair<Long, Long> minMax(ArrayList<Long> l)",
            "        return Pair.with(Collections.min(l), Collections.max(l));\n",
        ),
        "cpp": (
            "std::tuple<long, long> min_max(std::vector<long> l)",
            "    auto mm = std::minmax_element(l.begin(), l.end());\n    return std::make_tuple(*mm.first, *mm.second);\n",
        ),
        "cases": [("[3, 1, 2]", "(1, 3)"), ("[7]", "(7, 7)"), ("[-2, 9, 0]", "(-2, 9)")],
        "ret": "tuple",
        "list_arg": True,
    },
]


def _items(text: str) -> list[str]:
    text = text.strip()[1:-1].strip()
    return [x.strip() for x in text.split(",")] if text else []


# ----------------------------------------------------------------------------------- literals
def lit(lang: str, value: str, kind: str) -> str:
    """Translate a Python literal of our small test vocabulary."""
    if value in ("True", "False"):
        return {"py": value}.get(lang, value.lower())
    if value.startswith("["):
        items = _items(value)
        if lang == "py":
            return value
        if lang == "js":
            return "[" + ", ".join(items) + "]"
        if lang == "java":
            return "new ArrayList<Long>(Arrays.asList(" + ", ".join(f"(long){x}l" for x in items) + "))"
        return "std::vector<long>({" + ", ".join(f"(long){x}" for x in items) + "})"
    if value.startswith("("):
        items = _items(value)
        if lang == "py":
            return value
        if lang == "js":
            return "[" + ", ".join(items) + "]"
        if lang == "java":
            return "Pair.with(" + ", ".join(f"{x}l" for x in items) + ")"
        return "std::make_tuple(" + ", ".join(items) + ")"
    if value.startswith('"'):
        return value
    if lang == "java":
        return f"{value}l"
    return value


def args(lang: str, text: str) -> str:
    if text.startswith("["):
        return lit(lang, text, "list")
    parts = [p.strip() for p in text.split(",")]
    return ", ".join(lit(lang, p, "") for p in parts)


# ----------------------------------------------------------------------------------- per language
def js_row(i: int, p: dict) -> dict:
    sig, body = p["js"]
    call, result = p["cases"][0]
    prompt = f"//{p['doc']}\n// >>> {p['name']}({args('js', call)})\n// {lit('js', result, '')}\nfunction {sig}{{\n"
    lines = ["const assert = require('node:assert');\n", "", "function test() {", f"  let candidate = {p['name']};"]
    lines += [f"  assert.deepEqual(candidate({args('js', c)}),{lit('js', r, '')});" for c, r in p["cases"]]
    lines += ["}", "", "test();"]
    return row(i, p, "js", prompt, "\n".join(lines), ["\nfunction ", "\n/*", "\n//", "\nconsole.log"], body)


JAVA_IMPORTS = (
    "import java.util.*;\nimport java.lang.reflect.*;\nimport org.javatuples.*;\nimport java.security.*;\n"
    "import java.math.*;\nimport java.io.*;\nimport java.util.stream.*;\n"
)


def java_row(i: int, p: dict) -> dict:
    entry, sig, body = p["java"]
    call, result = p["cases"][0]
    prompt = (
        f"{JAVA_IMPORTS}class Problem {{\n    // {p['doc']}\n    // >>> {entry}({args('java', call)})\n"
        f"    // {lit('java', result, '')}\n    public static {sig} {{\n"
    )
    lines = ["    }", "    public static void main(String[] args) {"]
    for c, r in p["cases"]:
        left = f"{entry}({args('java', c)})"
        if p["ret"] in ("long", "boolean"):
            lines.append(f"    assert({left} == ({lit('java', r, '')}));")
        else:
            lines.append(f"    assert({left}.equals(({lit('java', r, '')})));")
    lines += ["    }\n", "}\n"]
    return row(i, p, "java", prompt, "\n".join(lines), ["\n    }\n"], body.rstrip("\n"))


def cpp_row(i: int, p: dict) -> dict:
    sig, body = p["cpp"]
    call, result = p["cases"][0]
    prompt = (
        f"#include<assert.h>\n#include<bits/stdc++.h>\n// {p['doc']}\n// >>> {p['name']}({args('cpp', call)})\n"
        f"// {lit('cpp', result, '')}\n{sig} {{\n"
    )
    lines = ["}", "int main() {", f"    auto candidate = {p['name']};"]
    lines += [f"    assert(candidate({args('cpp', c)}) == ({lit('cpp', r, '')}));" for c, r in p["cases"]]
    lines += ["}\n"]
    return row(i, p, "cpp", prompt, "\n".join(lines), ["\n}"], body.rstrip("\n"))


def py_row(i: int, p: dict) -> dict:
    sig, body = p["py"]
    call, result = p["cases"][0]
    needs = [t for t in ("List", "Tuple") if t + "[" in sig]
    imports = f"from typing import {', '.join(needs)}\n\n" if needs else ""
    prompt = f'{imports}def {sig}:\n    """{p["doc"]}\n    >>> {p["name"]}({call})\n    {result}\n    """\n'
    lines = ["def check(candidate):"]
    lines += [f"    assert candidate({c}) == {r}" for c, r in p["cases"]]
    lines += ["", "def test_check():", f"    check({p['name']})", "", "test_check()", ""]
    return row(i, p, "py", prompt, "\n".join(lines), ["\ndef", "\n#", "\nif", "\nclass"], body)


def row(i: int, p: dict, lang: str, prompt: str, tests: str, stop: list[str], solution: str) -> dict:
    name = f"Tiny_{i}_{p['name']}"
    return {
        "name": name,
        "language": lang,
        "prompt": prompt,
        "doctests": "transform",
        "original": f"../datasets/originals/{name}.py",
        "prompt_terminology": "reworded",
        "tests": tests,
        "stop_tokens": stop,
        "canonical_solution": solution,
    }


MBPP = [
    (
        "Write a function to find the sum of the squares of the first n natural numbers.",
        "def square_sum(n):\r\n    return sum(i * i for i in range(1, n + 1))",
        ["assert square_sum(3) == 14", "assert square_sum(1) == 1", "assert square_sum(0) == 0"],
    ),
    (
        "Write a python function to count the occurrences of a character in a string.",
        "def count_char(s, c):\n    n = 0\n    for ch in s:\n        if ch == c:\n            n += 1\n    return n",
        [
            'assert count_char("banana", "a") == 3',
            'assert count_char("", "x") == 0',
            'assert count_char("xyz", "z") == 1',
        ],
    ),
    (
        "Write a function to remove duplicates from a list, keeping the first occurrence of each element in order.",
        "def dedupe(lst):\n    seen = set()\n    out = []\n    for x in lst:\n        if x not in seen:\n            seen.add(x)\n            out.append(x)\n    return out",
        ["assert dedupe([1, 2, 1, 3, 2]) == [1, 2, 3]", "assert dedupe([]) == []", "assert dedupe([5, 5, 5]) == [5]"],
    ),
    (
        "Write a function to check whether the given number is prime.",
        "def is_prime(n):\n    if n < 2:\n        return False\n    i = 2\n    while i * i <= n:\n        if n % i == 0:\n            return False\n        i += 1\n    return True",
        ["assert is_prime(13) == True", "assert is_prime(1) == False", "assert is_prime(21) == False"],
    ),
    (
        "Write a function to find the second largest distinct number in a list.",
        "def second_largest(lst):\n    return sorted(set(lst))[-2]",
        [
            "assert second_largest([4, 1, 4, 3]) == 3",
            "assert second_largest([10, 20]) == 10",
            "assert second_largest([-1, -3, -2]) == -2",
        ],
    ),
    (
        "Write a function to merge two sorted lists into one sorted list.",
        "import heapq\ndef merge_sorted(a, b):\n    return list(heapq.merge(a, b))",
        [
            "assert merge_sorted([1, 4], [2, 3]) == [1, 2, 3, 4]",
            "assert merge_sorted([], [1]) == [1]",
            "assert merge_sorted([0, 0], [0]) == [0, 0, 0]",
        ],
    ),
    (  # as in real MBPP rows, the tests use a module only the program imports
        "Write a function to find the area of a circle with radius r.",
        "import math\ndef circle_area(r):\n    return math.pi * r * r",
        [
            "assert math.isclose(circle_area(1), 3.141592653589793, rel_tol=0.001)",
            "assert math.isclose(circle_area(2), 12.566370614359172, rel_tol=0.001)",
            "assert circle_area(0) == 0",
        ],
    ),
]


# six per language keep the compiled languages' end-to-end tests short
USED = ("add", "count_vowels", "max_element", "is_palindrome", "running_max", "min_max")


def main() -> None:
    for lang, make in (("js", js_row), ("java", java_row), ("cpp", cpp_row), ("py", py_row)):
        rows = [make(i, p) for i, p in enumerate(p for p in PROBLEMS if p["name"] in USED)]
        (HERE / f"humaneval-{lang}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    mbpp = [
        {
            "task_id": 1001 + i,
            "text": text,
            "code": code,
            "test_list": tests,
            "test_setup_code": "",
            "challenge_test_list": [],
        }
        for i, (text, code, tests) in enumerate(MBPP)
    ]
    (HERE / "mbpp.jsonl").write_text("".join(json.dumps(r) + "\n" for r in mbpp))


if __name__ == "__main__":
    main()
