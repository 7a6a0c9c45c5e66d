"""Honor code and warm-up: copy and sign a statement, then answer one short free-response question.

The statement and a pool of warm-up questions (each with a model answer and grading note) come
from the spec; a version prints one question of the pool. The cover fields (names, SIDs,
neighbours) are printed by the exam template, not here. No solve-contract kind.
"""
from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field, StringConstraints, model_validator

from generator.problem import Problem, Reject, Space, choice
from generator.registry import register
from generator.texify import Tex

Length = Annotated[str, StringConstraints(pattern=r"^\d+(\.\d+)?(in|cm|mm|pt)$")]


class Warmup(Space):
    """A warm-up question and its model answer / grading note (both LaTeX)."""

    question: Annotated[str, StringConstraints(min_length=1)]
    answer: Annotated[str, StringConstraints(min_length=1)]


class HonorSpace(Space):
    """The honor-code statement, the writing space, and the warm-up pool."""

    statement: Annotated[str, StringConstraints(min_length=1)]
    """Statement students copy by hand and sign (LaTeX)."""
    copy_lines: Length = "0.8in"
    """Height of the lined space for copying the statement."""
    answer_lines: Length = "1.3in"
    """Height of the lined space for the warm-up answer."""
    warmups: Annotated[list[Warmup], Field(min_length=1)]

    @model_validator(mode="after")
    def _distinct(self) -> "HonorSpace":
        questions = [w.question for w in self.warmups]
        if len(set(questions)) != len(questions):
            raise ValueError("two warm-up questions are the same")
        return self


def _sentences(text: str) -> list[str]:
    """Split LaTeX prose after ``.``, ``!`` or ``?`` followed by a capital, outside math and braces."""
    out, start, depth, math_mode = [], 0, 0, False
    for i, ch in enumerate(text):
        if ch == "$" and (i == 0 or text[i - 1] != "\\"):
            math_mode = not math_mode
        elif ch == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif ch == "}" and (i == 0 or text[i - 1] != "\\"):
            depth -= 1
        elif (ch in ".!?" and not math_mode and depth == 0 and text[i + 1:i + 2] == " "
              and text[i + 2:i + 3].isupper()):
            out.append(text[start:i + 1].strip())
            start = i + 1
    out.append(text[start:].strip())
    return [s for s in out if s]


def _gist(answer: str) -> str:
    """What a grader checks in a model answer: its first sentence, plus its grading sentence
    ("Full credit for ...") when that is another one. Whole sentences only, so braces and math
    stay balanced."""
    sentences = _sentences(" ".join(answer.split())) or [answer]
    graded = [s for s in sentences[1:] if s.casefold().startswith("full credit")]
    return " ".join(sentences[:1] + graded[:1])


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


@register
class HonorCode(Problem):
    """The graded part of the cover page: honor code (signed copy) and a warm-up question."""

    name = "honor_code"
    Space = HonorSpace
    unmarked_parts = {"honor": "a copied statement and a signature", "warmup": "the instructor's model answer"}

    def draw(self, rng: np.random.Generator) -> dict:
        pool = self.space.warmups
        return {"statement": self.space.statement, "warmup": choice(rng, pool).question}

    def validate(self, params: dict) -> None:
        statement, warmup = params.get("statement"), params.get("warmup")
        if not isinstance(statement, str) or not statement.strip():
            raise Reject("the honor-code statement must be a non-empty string")
        if not isinstance(warmup, str) or warmup not in {w.question for w in self.space.warmups}:
            raise Reject("the warm-up question must be one of the spec's warm-up questions, word for word")

    def solve(self, params: dict) -> dict:
        answers = {w.question: w.answer for w in self.space.warmups}
        return {"warmup_answer": answers[params["warmup"]]}

    def check(self, params: dict) -> dict:
        # A second lookup, by normalised text and scanning from the end: the question must match
        # exactly one pool entry.
        wanted = _normal(params["warmup"])
        hits = [w.answer for w in reversed(self.space.warmups) if _normal(w.question) == wanted]
        if len(hits) != 1:
            raise AssertionError(f"the warm-up question matches {len(hits)} pool entries")
        return {"warmup_answer": hits[0]}

    def summary(self, params: dict, answers: dict) -> dict[str, str]:
        """Part name -> the short final answer a grader checks, as trusted LaTeX.

        The warm-up gist is the model answer's first sentence and its grading sentence ("Full
        credit for ..."); the pool text is instructor LaTeX, passed through as the key prints it.
        """
        return {"honor": Tex("complete, legible copy of the statement, signed"),
                "warmup": Tex(_gist(answers["warmup_answer"]))}

    def given(self, params: dict) -> dict:
        """Pool text is instructor-authored LaTeX, printed as is; the writing-space heights."""
        return {"statement": Tex(params["statement"]), "question": Tex(params["warmup"]),
                "copy_lines": Tex(self.space.copy_lines), "answer_lines": Tex(self.space.answer_lines)}

    def key_context(self, params: dict, answers: dict) -> dict:
        """The warm-up's model answer (instructor LaTeX)."""
        return {"model_answer": Tex(answers["warmup_answer"])}
