"""The teacher's prompt template and the one strict parser of its answers.

Answer grammar (nothing before, nothing after, whitespace between the blocks allowed):

    <reasoning>NON-EMPTY TEXT</reasoning><label>NAME</label>
    <label>NAME</label>                          (a label-only answer)

``NAME`` must be a label of the scheme. Label-only answers are what a teacher writes when its SFT had no
reasoning chains to learn from (real data without rationales, ``teacher/rationales.py``); their reasoning is "". Every violation is an ``AnswerParseError`` with a reason, so the
annotation stage can count and quarantine it; nothing is guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from relevance_distill.schemas import LabelScheme

REASONING_OPEN, REASONING_CLOSE = "<reasoning>", "</reasoning>"
LABEL_OPEN, LABEL_CLOSE = "<label>", "</label>"
_ANSWER = re.compile(r"\A\s*<reasoning>(?P<reasoning>.*?)</reasoning>\s*<label>(?P<label>[^<>]*)</label>\s*\Z", re.S)
_LABEL_ONLY = re.compile(r"\A\s*<label>(?P<label>[^<>]*)</label>\s*\Z")
MAX_REASONING_CHARS = 2000

INSTRUCTION = (
    "You judge how relevant a local service is to a search query. Think step by step about what the query "
    "asks for and what the service offers, then answer exactly as "
    "<reasoning>your reasoning</reasoning><label>one label</label>. Labels, from least to most relevant: {labels}."
)


class AnswerParseError(ValueError):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ParsedAnswer:
    reasoning: str
    label: str


def instruction(scheme: LabelScheme) -> str:
    return INSTRUCTION.format(labels=", ".join(scheme.names))


def user_message(query: str, service_text: str) -> str:
    return f"Query: {query}\nService: {service_text}"


def rationale_hint(label: str) -> str:
    """What the reasoning model is told when it writes a chain for a gold label (``teacher/rationales.py``)."""
    return f"The correct label is {label}. Explain step by step why, then give that label."


def build_prompt(query: str, service_text: str, scheme: LabelScheme, tokenizer: Any | None = None, hint: str = "") -> str:
    """The full prompt text; with a tokenizer that has a chat template, rendered through it. HINT (e.g. the gold
    label for rationale writing) is appended to the user message.

    The shared instruction comes first so that engines with prefix caching (vLLM) reuse it across pairs.
    """
    message = user_message(query, service_text) + (f"\n{hint}" if hint else "")
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": instruction(scheme)}, {"role": "user", "content": message}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return f"{instruction(scheme)}\n{message}\nAnswer:\n"


def format_answer(reasoning: str, label: str) -> str:
    """The answer for LABEL; without reasoning, the label-only answer."""
    if not reasoning.strip():
        return f"{LABEL_OPEN}{label}{LABEL_CLOSE}"
    return f"{REASONING_OPEN}{reasoning.strip()}{REASONING_CLOSE}{LABEL_OPEN}{label}{LABEL_CLOSE}"


def parse_answer(text: str, scheme: LabelScheme) -> ParsedAnswer:
    if not isinstance(text, str):
        raise AnswerParseError(f"answer must be text, got {type(text).__name__}")
    label_only = _LABEL_ONLY.match(text)
    if label_only is not None:
        label = label_only.group("label").strip()
        if label not in scheme.names:
            raise AnswerParseError(f"unknown label {label!r}; allowed: {scheme.names}")
        return ParsedAnswer("", label)
    match = _ANSWER.match(text)
    if match is None:
        if LABEL_OPEN not in text and REASONING_OPEN not in text:
            raise AnswerParseError("missing <label> block")
        if REASONING_OPEN not in text:
            raise AnswerParseError("missing <reasoning> block")
        if REASONING_CLOSE not in text:
            raise AnswerParseError("unclosed <reasoning> block")
        if LABEL_OPEN not in text:
            raise AnswerParseError("missing <label> block")
        if LABEL_CLOSE not in text:
            raise AnswerParseError("unclosed <label> block")
        tail = text[text.rfind(LABEL_CLOSE) + len(LABEL_CLOSE):].strip()
        if tail:
            raise AnswerParseError(f"trailing text after </label>: {tail[:40]!r}")
        raise AnswerParseError("blocks out of order or text outside them")
    reasoning, label = match.group("reasoning").strip(), match.group("label").strip()
    if not reasoning:
        raise AnswerParseError("empty reasoning")
    if any(tag in reasoning for tag in (REASONING_OPEN, LABEL_OPEN, LABEL_CLOSE)):
        raise AnswerParseError("nested tags inside <reasoning>")
    if len(reasoning) > MAX_REASONING_CHARS:
        raise AnswerParseError(f"reasoning has {len(reasoning)} characters; the maximum is {MAX_REASONING_CHARS}")
    if label not in scheme.names:
        raise AnswerParseError(f"unknown label {label!r}; allowed: {scheme.names}")
    return ParsedAnswer(reasoning, label)
