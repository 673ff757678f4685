"""Code extraction for chat replies: from a free-form answer to the full program to execute.

``extract_code(reply, problem)`` returns the candidate program (the harness appends the tests):

1. ``<think>…</think>`` blocks of reasoning models are dropped (also an unclosed ``<think>``
   at the start, and everything before a lone ``</think>`` whose opening tag was in the prompt).
2. Fenced blocks (````` ``` ````` or ``~~~``, labelled or not, a closing fence glued to the end of
   the last code line, an unclosed fence at the end of the reply) are collected; blocks in
   another language are ignored; among the rest the one that defines the entry point wins (the
   last one when several do: a revised answer comes after the first try), else the longest.
   Without fences the reply itself is the code, from its first line that looks like code.
3. The program is made whole against the task prompt: a reply that gives only the body is put
   under the prompt's signature; a reply that defines the function keeps the prompt's imports
   and helper functions it omits (HumanEval/38's ``encode_cyclic``, HumanEval/10's
   ``is_palindrome``); an ``if __name__ == "__main__":`` block is dropped.

Stop words made for raw completions (``\\ndef``, ``\\nif``, …) are never applied here: they would
cut a complete chat program after its first function.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from aibench.types import Problem

LANGUAGE_ALIASES = {
    "python": {"python", "py", "python3", "py3"},
    "javascript": {"javascript", "js", "node", "nodejs", "jsx", "mjs"},
    "cpp": {"cpp", "c++", "cxx", "cc", "hpp"},
    "java": {"java"},
}
_NEUTRAL_LABELS = {"", "code", "text", "plaintext", "txt"}

_THINK = re.compile(r"<think(?:ing)?>.*?</think(?:ing)?>", re.S | re.I)
_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*$")


@dataclass
class Block:
    label: str
    code: str


def strip_think(reply: str) -> str:
    text = _THINK.sub("", reply)
    low = text.lower()
    if "</think>" in low:  # the opening tag was part of the prompt template
        text = text[low.rindex("</think>") + len("</think>") :]
    elif low.lstrip().startswith("<think>"):  # never closed: the reply is all reasoning
        text = ""
    return text


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block, in order. Handles ```lang, ```, ~~~, an unclosed last fence and a
    closing fence at the end of the last code line (``return x```)."""
    lines = text.split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, label = m.group(1), m.group(2).lower()
        body: list[str] = []
        i += 1
        closed = False
        while i < len(lines):
            line = lines[i]
            stripped = line.strip()
            if stripped.startswith(fence[0] * 3) and stripped.strip(fence[0]) == "":
                closed = True
                i += 1
                break
            if line.rstrip().endswith(fence) and stripped != fence:  # "    return x```"
                body.append(line.rstrip()[: -len(fence)])
                closed = True
                i += 1
                break
            body.append(line)
            i += 1
        del closed  # an unclosed fence runs to the end of the reply
        blocks.append(Block(label, "\n".join(body)))
    return blocks


def _defines(code: str, problem: Problem) -> bool:
    ep = problem.entry_point
    if not ep:
        return False
    lang = (problem.language or "python").lower()
    if lang == "python":
        return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(ep)}\s*\(", code, re.M) is not None
    return re.search(rf"\b{re.escape(ep)}\s*(?:=\s*(?:function|\()|\()", code) is not None


def choose_block(blocks: list[Block], problem: Problem) -> Block | None:
    lang = (problem.language or "python").lower()
    aliases = LANGUAGE_ALIASES.get(lang, {lang})
    fitting = [b for b in blocks if b.label in aliases or b.label in _NEUTRAL_LABELS]
    if not fitting:
        return None
    defining = [b for b in fitting if _defines(b.code, problem)]
    if defining:
        return defining[-1]
    mentioning = [b for b in fitting if problem.entry_point and problem.entry_point in b.code]
    if mentioning:
        return max(mentioning, key=lambda b: len(b.code))
    return max(fitting, key=lambda b: len(b.code))


_CODE_START = re.compile(
    r"^(?:from\s+\S+\s+import|import\s|def\s|async\s+def\s|class\s|@|"
    r"function\s|const\s|let\s|#include|public\s|static\s)"
)


def unfenced_code(text: str, problem: Problem) -> str:
    """A reply without fences: from the first line that looks like code to the end, with
    trailing prose lines dropped."""
    lines = text.split("\n")
    start = next((i for i, ln in enumerate(lines) if _CODE_START.match(ln)), None)
    if start is None:
        return text.strip("\n")
    body = lines[start:]
    # drop trailing prose: unindented lines after the code that do not parse as code
    while (
        body
        and body[-1].strip()
        and not body[-1].startswith((" ", "\t"))
        and not _CODE_START.match(body[-1])
        and _is_prose(body[-1])
    ):
        body.pop()
    return "\n".join(body).strip("\n")


def _is_prose(line: str) -> bool:
    s = line.strip()
    if not s:
        return False
    try:
        ast.parse(s)
        return False
    except SyntaxError:
        return True


def _python_program(code: str, problem: Problem) -> str:
    ep = problem.entry_point
    prompt = problem.prompt
    if not _defines(code, problem):
        # only the body: put it under the prompt's signature and docstring
        body = textwrap.dedent(code).strip("\n")
        body = textwrap.indent(body, "    ")
        return prompt.rstrip("\n") + "\n" + body + "\n"
    code = _drop_main_guard(code)
    try:
        prompt_tree = ast.parse(prompt + "\n    pass\n" if not prompt.rstrip().endswith("pass") else prompt)
    except SyntaxError:
        try:
            prompt_tree = ast.parse(prompt)
        except SyntaxError:
            return code
    try:
        code_tree = ast.parse(code)
    except SyntaxError:
        code_tree = None
    defined = _top_level_names(code_tree) if code_tree is not None else set()
    imported_lines = {ln.strip() for ln in code.split("\n")}
    prompt_lines = prompt.split("\n")
    preamble: list[str] = []
    for node in prompt_tree.body:
        seg = "\n".join(prompt_lines[node.lineno - 1 : node.end_lineno])
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if seg.strip() not in imported_lines:
                preamble.append(seg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name != ep and node.name not in defined:
                start = min([d.lineno for d in node.decorator_list] + [node.lineno])
                preamble.append("\n".join(prompt_lines[start - 1 : node.end_lineno]))
        elif isinstance(node, ast.Assign):  # module-level constants the function may use
            names = {t.id for t in node.targets if isinstance(t, ast.Name)}
            if names and not names & defined:
                preamble.append(seg)
    if not preamble:
        return code.strip("\n") + "\n"
    return "\n".join(preamble).strip("\n") + "\n\n\n" + code.strip("\n") + "\n"


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _drop_main_guard(code: str) -> str:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    lines = code.split("\n")
    for node in reversed(tree.body):
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == "__name__"
        ):
            del lines[node.lineno - 1 : node.end_lineno]
    return "\n".join(lines)


def extract_code(reply: str, problem: Problem) -> str:
    """The full program (imports, helpers, the entry point) to run against the task's tests."""
    text = strip_think(reply)
    blocks = fenced_blocks(text)
    chosen = choose_block(blocks, problem) if blocks else None
    if chosen is not None:
        code = chosen.code
    elif blocks:  # fences, but all in another language: take the longest anyway
        code = max(blocks, key=lambda b: len(b.code)).code
    else:
        code = unfenced_code(text, problem)
    lang = (problem.language or "python").lower()
    if lang == "python":
        return _python_program(code, problem)
    if problem.entry_point and not _defines(code, problem):
        return problem.prompt.rstrip("\n") + "\n" + code.strip("\n") + "\n"
    return code.strip("\n") + "\n"
