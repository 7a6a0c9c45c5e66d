"""Machine translation with an RNN encoder-decoder: teacher forcing versus generation.

Solve kind ``teacher-forcing``. A sentence pair comes from the spec's pool (its two sentences
differ in length, so part (a) can point at it); the model slips at one step (a plausible wrong
word from the pair's list, possibly followed by words that go along with the slip). The decoder
emits the sentence and then ``<eos>``, so it runs ``len(target) + 1`` steps and its last input is
the last word: a slip at the last word is fed back too. Part (a) is conceptual; (b) asks for the
decoder inputs during training, (c) for the inputs at generation time, where the model's own wrong
word is fed back.
"""
from __future__ import annotations

import numpy as np
from pydantic import model_validator

from generator.errors import ParamError
from generator.params import string_list
from generator.problem import Problem, Reject, Space, choice
from generator.registry import register, register_kind
from generator.texify import Tex, escape

SOS, EOS = "<sos>", "<eos>"
MIN_WORDS, MAX_WORDS = 3, 6  # per pool sentence; at most 6 so both unrolled RNNs fit the page


def _tokens(params: dict, name: str) -> list[str]:
    """A non-empty list of non-blank strings."""
    words = string_list(params, name)
    for i, w in enumerate(words):
        if not w.strip():
            raise ParamError(name, f"token {i} is blank")
    return words


def solve_kind(params: dict) -> dict:
    """Training inputs: <sos> then every reference word; generation: <sos> then every own output.

    The last step (the one that emits <eos>) takes the last word, so each list has len(target) + 1.
    """
    target = _tokens(params, "target")
    predicted = _tokens(params, "predicted")
    if len(predicted) != len(target):
        raise ParamError("predicted", f"expected {len(target)} tokens (one per target token), got {len(predicted)}")
    return {"train_inputs": [SOS] + target, "eval_inputs": [SOS] + predicted}


def check_kind(params: dict) -> dict:
    """Independent route: run the decoder loop step by step, feeding back what each mode feeds."""
    target, predicted = params["target"], params["predicted"]
    if not isinstance(target, list) or not isinstance(predicted, list) or len(target) != len(predicted):
        raise ParamError("predicted", "target and predicted must be lists of the same length")
    train, gen = [], []
    next_train = next_gen = SOS
    # The decoder's outputs: the sentence, then <eos>; the loop stops once <eos> is emitted.
    for ref, own in zip(target + [EOS], predicted + [EOS]):
        train.append(next_train)
        gen.append(next_gen)
        next_train = ref      # teacher forcing: the reference word, whatever the model said
        next_gen = own        # generation: the model's own output
    return {"train_inputs": train, "eval_inputs": gen}


register_kind("teacher-forcing", solve_kind, check_kind)


class Slip(Space):
    """A plausible mistake: at 1-based ``step`` the model emits ``word``; ``then`` are its next outputs."""

    step: int
    word: str
    then: list[str] = []


class Pair(Space):
    """A Spanish sentence, its English reference (space-separated words, a different number of
    them) and the model's slips."""

    es: str
    en: str
    slips: list[Slip]

    @model_validator(mode="after")
    def _fits(self) -> "Pair":
        src, tgt = self.es.split(), self.en.split()
        for name, words in (("es", src), ("en", tgt)):
            if not MIN_WORDS <= len(words) <= MAX_WORDS:
                raise ValueError(f"'{name}' must have {MIN_WORDS} to {MAX_WORDS} words, got {len(words)}")
        if len(src) == len(tgt):
            # Part (a) asks what goes wrong when s_t reads h_t: a pair of equal lengths hides it.
            raise ValueError(f"'{self.es}' and '{self.en}' have the same number of words; "
                             "pool pairs must differ in length")
        if not self.slips:
            raise ValueError(f"pair '{self.en}' needs at least one slip")
        for s in self.slips:
            # Every emitted word is fed back (the last one at the <eos> step), so any step will do.
            if not 1 <= s.step <= len(tgt):
                raise ValueError(f"slip step {s.step} of '{self.en}' must be between 1 and {len(tgt)}")
            if s.word == tgt[s.step - 1] or not s.word.strip() or " " in s.word:
                raise ValueError(f"slip word '{s.word}' must be one word differing from '{tgt[s.step - 1]}'")
            if s.step + len(s.then) > len(tgt):
                raise ValueError(f"slip at step {s.step} of '{self.en}': 'then' runs past the sentence")
        return self


class TranslationSpace(Space):
    """The pool of sentence pairs."""

    pairs: list[Pair]

    @model_validator(mode="after")
    def _enough(self) -> "TranslationSpace":
        if len(self.pairs) < 2:
            raise ValueError("the pool needs at least two sentence pairs")
        return self


@register
class Translation(Problem):
    """Encoder-decoder RNN for Spanish to English: which words enter the decoder, when?"""

    name = "translation"
    Space = TranslationSpace
    unmarked_parts = {"a": "an explanation (any one of the listed problems)"}

    def draw(self, rng: np.random.Generator) -> dict:
        pair = choice(rng, self.space.pairs)
        slip = choice(rng, pair.slips)
        target = pair.en.split()
        predicted = list(target)
        predicted[slip.step - 1] = slip.word
        predicted[slip.step:slip.step + len(slip.then)] = slip.then
        return {"source": pair.es.split(), "target": target, "predicted": predicted}

    def validate(self, params: dict) -> None:
        try:
            source = _tokens(params, "source")
            answers = solve_kind(params)
        except ParamError as e:
            raise Reject(e.message) from None
        target, predicted = params["target"], params["predicted"]
        if len(source) > MAX_WORDS or len(target) > MAX_WORDS:
            raise Reject(f"sentences longer than {MAX_WORDS} words do not fit the figure")
        if answers["eval_inputs"] == answers["train_inputs"]:
            raise Reject("the model makes no mistake")
        if {SOS, EOS} & set(target + predicted):
            raise Reject("the start and end tokens are not words of the sentence")

    def items(self, params: dict) -> list:
        return [("teacher-forcing", {"target": params["target"], "predicted": params["predicted"]})]

    def solve(self, params: dict) -> dict:
        answers = solve_kind(params)
        error_step = next(i for i, (p, t) in enumerate(zip(params["predicted"], params["target"])) if p != t) + 1
        return {**answers, "error_step": error_step}

    def check(self, params: dict) -> dict:
        # Simulate the decoder explicitly: a scripted "model" that emits its output at each call,
        # run once with the reference fed in (training) and once with its own output fed back.
        script = iter(params["predicted"])

        def decoder_step(word_in: str) -> str:
            return next(script)  # the input would update the state; the script fixes the output

        refs = params["target"] + [EOS]
        train, word = [], SOS
        for ref in refs:
            train.append(word)
            word = ref
        gen, word, error_step = [], SOS, None
        for t, ref in enumerate(refs, start=1):
            gen.append(word)
            word = decoder_step(word) if t < len(refs) else EOS  # the last step emits <eos>
            if error_step is None and word != ref:
                error_step = t
        return {"train_inputs": train, "eval_inputs": gen, "error_step": error_step}

    def workload(self, params: dict) -> dict:
        """The words of the reference translation: one decoder step each."""
        return {"target_words": len(params["target"])}

    def final_answers(self, answers: dict) -> dict:
        return {"b": answers["train_inputs"], "c": answers["eval_inputs"]}

    def summary(self, params: dict, answers: dict) -> dict[str, str]:
        """Part name -> the short final answer a grader checks, as trusted LaTeX."""
        def tok(w: str) -> str:
            text = escape(w, what="translation token")
            return f"\\texttt{{{text}}}" if w in (SOS, EOS) else text

        train = answers["train_inputs"]
        fed_back = [f"\\underline{{{tok(w)}}}" if w != ref else tok(w)
                    for w, ref in zip(answers["eval_inputs"], train)]
        n = len(train)
        return {
            "a": Tex("any one: word order needs the whole source first; "
                     "lengths differ (no $h_t$); forced word-by-word alignment"),
            "b": Tex(f"$w_1, \\dots, w_{{{n}}}$: " + " ".join(tok(w) for w in train)
                     + " (start token, then every reference word)"),
            "c": Tex(f"$w_1, \\dots, w_{{{n}}}$: " + " ".join(fed_back)
                     + f" (own outputs; slip at step {answers['error_step']} fed back)"),
        }

    def given(self, params: dict) -> dict:
        """The figure's geometry and the decoder's outputs (all stated in the question)."""
        m, n = len(params["source"]), len(params["target"])
        # The questions environment indents the body, so the figure gets about 14 cm of the page;
        # the decoder has n + 1 steps (the last emits <eos>).
        gap = 0.5  # extra room between encoder and decoder, in cm
        dx = min(1.6, (13.0 - gap) / max(1, m + n))
        return {"dx": round(dx, 3), "dec_x0": round(m * dx + gap, 3),
                "mismatch": m != n, "n_src": m, "n_tgt": n, "outputs": params["target"] + [EOS],
                "emitted": params["predicted"] + [EOS],
                "error_step": next(i for i, (p, t) in enumerate(zip(params["predicted"], params["target"])) if p != t) + 1}
