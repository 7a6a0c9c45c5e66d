"""A multiple-choice question written entirely in its YAML spec: no Python needed for a new one.

The spec gives the question, a keyed pool of options (each with an optional reason) and how many
options a version shows; each version draws that many, in random order, so that one (``select:
one``) or at least one (``select: many``) option is correct. The key ticks the correct boxes.
"""
from __future__ import annotations

import re
from typing import Annotated, Literal

import numpy as np
from pydantic import AfterValidator, model_validator

from ..problem import Problem, Reject, Space
from ..registry import register
from ..schema import MAX_LATEX, MAX_PARAGRAPH, Latex
from ..texify import SpecText, Tex, escape

MAX_SHOWN = 10  # the template letters options A to J


def _balanced(text: str) -> str:
    """Spec LaTeX whose ``$`` and braces pair up: an unclosed one in an option breaks the items after
    it, and TeX reports it there (in the shared template), not at its own line of the spec."""
    bare = re.sub(r"\\[\\$%{}]", "", text)  # escaped characters do not count
    bare = re.sub(r"(?<!\\)%.*", "", bare)  # nor anything in a comment
    if bare.count("$") % 2:
        raise ValueError("unbalanced $: every $ that opens math needs one that closes it")
    depth = 0
    for ch in bare:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            raise ValueError("a } closes a brace that was never opened")
    if depth:
        raise ValueError("a { is never closed")
    return text


Paragraph = Annotated[Latex(MAX_PARAGRAPH), AfterValidator(_balanced)]  # type: ignore[valid-type]


class Option(Space):
    """One option (LaTeX), whether it is correct, and why (LaTeX, shown in the key)."""

    text: Paragraph
    correct: bool
    why: Paragraph = ""


class ChoiceSpace(Space):
    """The question, the keyed options, and how many a version shows."""

    question: Annotated[Latex(MAX_LATEX), AfterValidator(_balanced)]  # type: ignore[valid-type]
    """The question (LaTeX)."""
    select: Literal["one", "many"] = "one"
    """``one``: exactly one correct option is shown; ``many``: tick all that apply."""
    show: int = 4
    """Options shown per version."""
    options: list[Option]

    @model_validator(mode="after")
    def _drawable(self) -> "ChoiceSpace":
        texts = [o.text for o in self.options]
        if len(set(texts)) != len(texts):
            raise ValueError("two options have the same text")
        right = sum(o.correct for o in self.options)
        wrong = len(self.options) - right
        if not 2 <= self.show <= min(len(self.options), MAX_SHOWN):
            raise ValueError(f"'show' must be between 2 and the number of options ({len(self.options)}), "
                             f"at most {MAX_SHOWN} (lettered A to J), got {self.show}")
        if right == 0 or wrong == 0:
            raise ValueError("the options need at least one correct and one incorrect answer")
        if self.select == "one" and wrong < self.show - 1:
            raise ValueError(f"select: one shows 1 correct and {self.show - 1} incorrect options; only {wrong} incorrect given")
        return self


def _letters(flags: list[bool]) -> list[str]:
    return [chr(65 + i) for i, on in enumerate(flags) if on]


@register
class MultipleChoice(Problem):
    """A keyed multiple-choice question from the spec, options drawn and shuffled per version."""

    name = "multiple_choice"
    Space = ChoiceSpace

    def draw(self, rng: np.random.Generator) -> dict:
        s = self.space
        right = [o for o in s.options if o.correct]
        wrong = [o for o in s.options if not o.correct]
        if s.select == "one":
            chosen = [right[int(rng.integers(len(right)))]]
            chosen += [wrong[int(i)] for i in rng.permutation(len(wrong))[: s.show - 1]]
        else:
            chosen = [s.options[int(i)] for i in rng.permutation(len(s.options))[: s.show]]
        order = rng.permutation(len(chosen))
        # The parameters name the shown options only: which are correct is an answer, and the exam's
        # template (which sees the parameters) must not be able to print it.
        return {"options": [{"text": chosen[int(i)].text} for i in order]}

    def validate(self, params: dict) -> None:
        shown = params.get("options")
        if not isinstance(shown, list) or len(shown) < 2:
            raise Reject("'options' must list at least two options")
        pool = {o.text: o for o in self.space.options}
        for i, o in enumerate(shown):
            if not isinstance(o, dict) or "text" not in o:
                raise Reject(f"options[{i}]: expected {{text: ...}}, the text of one of the spec's options")
            if set(o) != {"text"}:
                extra = ", ".join(sorted(map(str, set(o) - {"text"})))
                raise Reject(f"options[{i}]: only 'text' is given, not {extra} (whether an option is correct "
                             "comes from the spec's options)")
            if o["text"] not in pool:
                raise Reject(f"option {o['text']!r} is not in the spec's options")
        if len({o["text"] for o in shown}) != len(shown):
            raise Reject("an option is shown twice")
        right = sum(pool[o["text"]].correct for o in shown)
        if self.space.select == "one" and right != 1:
            raise Reject(f"select: one needs exactly one correct option shown, got {right}")
        if right == 0:
            raise Reject("no correct option shown")

    def solve(self, params: dict) -> dict:
        keyed = {o.text: o for o in self.space.options}
        shown = [keyed[o["text"]] for o in params["options"]]
        return {"correct": _letters([o.correct for o in shown]), "why": [o.why for o in shown]}

    def check(self, params: dict) -> dict:
        # Another path to the same facts: each shown option's position in the spec, then the letters
        # of the shown positions that the spec's correct options occupy.
        positions = [self._index(o["text"]) for o in params["options"]]
        right = {i for i, o in enumerate(self.space.options) if o.correct}
        return {"correct": [chr(65 + k) for k, i in enumerate(positions) if i in right],
                "why": [self.space.options[i].why for i in positions]}

    def given(self, params: dict) -> dict:
        # Spec text keeps its place in the spec, so a LaTeX error in an option names the option's line.
        return {"question": SpecText(self.space.question, ("space", "question")), "many": self.space.select == "many",
                "options": [SpecText(o["text"], ("space", "options", self._index(o["text"]), "text"))
                            for o in params["options"]]}

    def key_context(self, params: dict, answers: dict) -> dict:
        return {"whys": [SpecText(why, ("space", "options", self._index(o["text"]), "why"))
                         for o, why in zip(params["options"], answers["why"])],
                "ticked": [chr(65 + k) in answers["correct"] for k in range(len(params["options"]))]}

    def _index(self, text: str) -> int:
        return next(i for i, o in enumerate(self.space.options) if o.text == text)

    def final_answers(self, answers: dict) -> dict:
        return {"key": answers["correct"]}

    def summary(self, params: dict, answers: dict) -> dict[str, str]:
        """A single part (the grader's page uses the one entry whatever the part is called)."""
        note = " (exactly these)" if self.space.select == "many" else ""
        return {"all": Tex(escape(", ".join(answers["correct"])) + note)}
