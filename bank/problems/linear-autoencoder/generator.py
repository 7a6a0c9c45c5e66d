"""Linear autoencoders: what to build to train one, and what the weight penalty does to the decoder.

Encoder W1 (k×m), decoder W2 (m×k), loss ``mean ||x - W2 W1 x||² + λ(||W1||² + ||W2||²)``.
(a) keyed multiple choice drawn from the spec's pools (how many layers, loss, tools), options
shuffled (numbers in increasing order);
(b) for small λ > 0 the penalty makes W2 (nearly) orthonormal: without it only the product
W2 W1 = U Uᵀ is fixed (W2 = U A, W1 = A⁻¹ Uᵀ for any invertible A), and the penalty
``||A||² + ||A⁻¹||² = Σ σᵢ² + 1/σᵢ²`` is smallest when every singular value σᵢ of A is 1.
No solve-contract kind.
"""
from __future__ import annotations

import functools
from typing import Literal

import numpy as np
from pydantic import model_validator

from generator.problem import Problem, Reject, Space, choice
from generator.registry import register
from generator.texify import Tex

LETTERS = "ABCDEFGHIJ"


class ChoiceQuestion(Space):
    """One multiple-choice question of part (a): keyed options and a pool of distractors."""

    id: str
    prompt: str
    """LaTeX; printed as is."""
    select: Literal["one", "all"]
    """``one``: exactly one keyed option is shown; ``all``: every keyed option is shown."""
    n_options: int
    correct: list[str]
    """Keyed options (LaTeX; ``<m>`` and ``<k>`` become the drawn sizes)."""
    distractors: list[str]
    ordered: bool = False
    """Print the options in increasing numeric order instead of shuffling them (for numbers)."""

    @model_validator(mode="after")
    def _feasible(self) -> "ChoiceQuestion":
        texts = self.correct + self.distractors
        if self.ordered and not all(_is_number(t) for t in texts):
            raise ValueError(f"question '{self.id}': ordered options must all be numbers")
        if len(set(texts)) != len(texts):
            raise ValueError(f"question '{self.id}': an option appears twice")
        if not self.correct:
            raise ValueError(f"question '{self.id}': needs at least one keyed option")
        shown_correct = 1 if self.select == "one" else len(self.correct)
        if not shown_correct < self.n_options <= shown_correct + len(self.distractors):
            raise ValueError(f"question '{self.id}': n_options must exceed the keyed options shown "
                             f"({shown_correct}) and not exceed them plus the distractors")
        if self.n_options > len(LETTERS):
            raise ValueError(f"question '{self.id}': at most {len(LETTERS)} options")
        return self


class AutoencoderSpace(Space):
    """Sizes offered and the keyed pools of part (a)."""

    m_choices: list[int] = [8, 10, 12, 16, 20, 32, 50, 64, 100]
    k_choices: list[int] = [2, 3, 4, 5, 8, 10]
    max_ratio: float = 0.5
    """k ≤ max_ratio·m, so the code is a real bottleneck."""
    questions: list[ChoiceQuestion]

    @model_validator(mode="after")
    def _unique_ids(self) -> "AutoencoderSpace":
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be unique")
        return self


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _substitute(text: str, m: int, k: int) -> str:
    return text.replace("<m>", str(m)).replace("<k>", str(k))


@functools.lru_cache(maxsize=1)
def _penalty_balances_decoder() -> bool:
    """Numerical evidence for (b), independent of the drawn sizes.

    1. Grid search: σ² + 1/σ² over σ ∈ [0.05, 4] is smallest at σ = 1.
    2. Gradient descent on a tiny autoencoder (m = 5, k = 2, data covariance diag(4, 3, 1, 0.5, 0.2))
       from a deliberately unbalanced start: with λ = 0.05, W2ᵀW2 ends within 0.05 of I; with
       λ = 0 it stays far from I — so it is the penalty that balances the factors.
    """
    grid = np.linspace(0.05, 4.0, 7901)
    sigma_best = grid[np.argmin(grid ** 2 + 1 / grid ** 2)]
    if abs(sigma_best - 1.0) > 1e-3:
        return False

    def decoder_gram(lam: float) -> np.ndarray:
        C = np.diag([4.0, 3.0, 1.0, 0.5, 0.2])
        W2 = np.array([[2.0, 0.5], [0.5, 3.0], [0, 0], [0, 0], [0, 0]])
        W1 = np.array([[0.3, 0, 0, 0, 0], [0, 0.3, 0, 0, 0]])
        for _ in range(2000):
            G = -2 * (np.eye(5) - W2 @ W1) @ C  # gradient of the reconstruction loss w.r.t. W2 W1
            W2, W1 = W2 - 0.02 * (G @ W1.T + 2 * lam * W2), W1 - 0.02 * (W2.T @ G + 2 * lam * W1)
        return W2.T @ W2

    with_penalty = np.abs(decoder_gram(0.05) - np.eye(2)).max()
    without = np.abs(decoder_gram(0.0) - np.eye(2)).max()
    return bool(with_penalty < 0.05 and without > 0.5)


@register
class LinearAutoencoder(Problem):
    """Keyed choices on building a linear autoencoder, and the orthonormal-decoder question."""

    name = "linear_autoencoder"
    Space = AutoencoderSpace

    def draw(self, rng: np.random.Generator) -> dict:
        s = self.space
        m, k = int(rng.choice(s.m_choices)), int(rng.choice(s.k_choices))
        if k > s.max_ratio * m:
            raise Reject("k is not much smaller than m")
        options = {}
        for q in s.questions:
            keyed = [choice(rng, q.correct)] if q.select == "one" else list(q.correct)
            picked = rng.choice(len(q.distractors), size=q.n_options - len(keyed), replace=False)
            shown = keyed + [q.distractors[int(i)] for i in picked]
            options[q.id] = [shown[int(i)] for i in rng.permutation(len(shown))]
            if q.ordered:
                options[q.id].sort(key=float)
        return {"m": m, "k": k, "options": options}

    def validate(self, params: dict) -> None:
        m, k, options = params.get("m"), params.get("k"), params.get("options")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (m, k)):
            raise Reject("m and k must be integers")
        if not 1 <= k <= self.space.max_ratio * m:
            raise Reject(f"need 1 <= k <= {self.space.max_ratio} m, got m = {m}, k = {k}")
        questions = {q.id: q for q in self.space.questions}
        if not isinstance(options, dict) or set(options) != set(questions):
            raise Reject(f"options must give the options of the questions {sorted(questions)}")
        for qid, q in questions.items():
            shown = options[qid]
            if not isinstance(shown, list) or len(shown) < 2 or len(set(shown)) != len(shown):
                raise Reject(f"question '{qid}': need at least two distinct options")
            if len(shown) > len(LETTERS):
                raise Reject(f"question '{qid}': too many options")
            unknown = [t for t in shown if t not in q.correct and t not in q.distractors]
            if unknown:
                raise Reject(f"question '{qid}': option {unknown[0]!r} is not in the spec's pool")
            n_keyed = sum(t in q.correct for t in shown)
            if n_keyed == 0 or (q.select == "one" and n_keyed != 1):
                raise Reject(f"question '{qid}': wrong number of keyed options ({n_keyed})")
            if n_keyed == len(shown):
                raise Reject(f"question '{qid}': no distractor shown")

    def solve(self, params: dict) -> dict:
        keyed = {}
        for q in self.space.questions:
            correct = set(q.correct)
            keyed[q.id] = [i for i, text in enumerate(params["options"][q.id]) if text in correct]
        # (b): the penalty Σ σ² + 1/σ² is minimised at σ = 1 (AM–GM), so yes.
        return {"keyed": keyed, "orthonormal": True}

    def check(self, params: dict) -> dict:
        # Look every shown option up by its text, the other way round: keyed = not a distractor,
        # and it must then be one of the keyed texts.
        keyed = {}
        for q in self.space.questions:
            indices = []
            for i, text in enumerate(params["options"][q.id]):
                if text in q.distractors:
                    continue
                if text not in q.correct:
                    raise AssertionError(f"option {text!r} is in neither pool")
                indices.append(i)
            keyed[q.id] = indices
        return {"keyed": keyed, "orthonormal": _penalty_balances_decoder()}

    def final_answers(self, answers: dict) -> dict:
        return {**{f"a.{q}": keyed for q, keyed in answers["keyed"].items()}, "b": answers["orthonormal"]}

    def summary(self, params: dict, answers: dict) -> dict[str, str]:
        """Part name -> the short final answer a grader checks, as trusted LaTeX."""
        roman = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"]
        ticks = []
        for n, q in enumerate(self.space.questions):
            letters = ", ".join(LETTERS[i] for i in answers["keyed"][q.id])
            label = roman[n] if n < len(roman) else str(n + 1)
            ticks.append(f"({label}) {letters}" + (" (exactly these)" if q.select == "all" else ""))
        if answers["orthonormal"]:
            b = (r"Yes: penalty $\sum_i \sigma_i^2 + 1/\sigma_i^2$ smallest at $\sigma_i = 1$, "
                 r"so $W_2^\top W_2 \approx I$")
        else:
            b = "No"
        return {"a": Tex("ticked: " + "; ".join(ticks)), "b": Tex(b)}

    def given(self, params: dict) -> dict:
        """The questions of (a) with their options printed (sizes substituted) and lettered."""
        m, k = params["m"], params["k"]
        questions = []
        for q in self.space.questions:
            shown = params["options"][q.id]
            questions.append({
                "prompt": Tex(q.prompt),
                "select": q.select,
                "options": [{"letter": LETTERS[i], "text": Tex(_substitute(t, m, k))} for i, t in enumerate(shown)],
            })
        return {"questions": questions}

    def key_context(self, params: dict, answers: dict) -> dict:
        """The keyed letters of each question of (a), aligned with ``questions``."""
        return {"keyed": [[LETTERS[i] for i in answers["keyed"][q.id]] for q in self.space.questions]}
