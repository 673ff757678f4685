"""Chat prompt templates: how a completion-style task prompt is put to an instruction-tuned model.

The template is ``model.system_prompt`` and ``model.user_template`` (defaults below, set per model
in YAML or on the command line); placeholders
are ``{prompt}`` (the task prompt), ``{language}`` (e.g. ``python``), ``{Language}`` (``Python``)
and ``{entry_point}``. Substitution is plain text replacement, so other braces in a template
(or in the prompt) are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from aibench.types import Problem

DEFAULT_SYSTEM_PROMPT = "You are an expert programmer. Answer with complete, runnable code in one fenced code block."
DEFAULT_USER_TEMPLATE = (
    "Complete the following {Language} function. Return the whole function, including the "
    "signature and any imports it needs, in a single ```{language} code block.\n\n"
    "```{language}\n{prompt}\n```"
)

_LANGUAGE_NAMES = {"python": "Python", "javascript": "JavaScript", "cpp": "C++", "java": "Java"}


@dataclass(frozen=True)
class ChatTemplate:
    system: str | None = DEFAULT_SYSTEM_PROMPT
    user: str = DEFAULT_USER_TEMPLATE

    def user_text(self, problem: Problem) -> str:
        lang = (problem.language or "python").lower()
        values = {
            "{prompt}": problem.prompt.strip("\n"),
            "{language}": lang,
            "{Language}": _LANGUAGE_NAMES.get(lang, lang.capitalize()),
            "{entry_point}": problem.entry_point or "",
        }
        text = self.user
        # one pass over the template so a prompt containing "{language}" is not substituted again
        out, i = [], 0
        while i < len(text):
            for ph, val in values.items():
                if text.startswith(ph, i):
                    out.append(val)
                    i += len(ph)
                    break
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    def messages(self, problem: Problem) -> list[dict[str, str]]:
        msgs = []
        if self.system:
            msgs.append({"role": "system", "content": self.system})
        msgs.append({"role": "user", "content": self.user_text(problem)})
        return msgs
