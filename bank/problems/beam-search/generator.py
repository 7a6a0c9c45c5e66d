"""Beam search: exhaustive, greedy and width-k beam decoding over a small tree of next-word log-probs.

Solve kind ``beam-search`` (any vocabulary, any depth). The exam problem draws a two-word
vocabulary, three steps and beam width 2, with the tree as a TikZ figure; (a) asks for the
exhaustive-search sequence, (b) the greedy one, (c) the one beam search returns. Every drawn
instance makes the three answers pairwise different and has no tie for the beam's last place; a
pinned instance (the original exam's tree, two-decimal labels) need not, as long as every answer
is unambiguous.

Numbers on the branches: each node draws the log-probability ``a`` of its likelier child from a
short list of one-decimal values (-0.1 ... -0.6); the other child gets ``ln(1 - e^a)`` rounded to
one decimal (-0.1/-2.4, -0.2/-1.7, -0.3/-1.4, -0.4/-1.1, -0.5/-0.9, -0.6/-0.8). So every label is
a rounded natural log of a genuine, normalised two-word distribution (the exponentials sum to
0.99-1.01), and a sequence's score is a sum of one-decimal numbers a student adds by hand.
Decoding only compares the sums shown, so the rounding does not matter. (Drawing the probability
instead, 0.6/0.4 ... 0.9/0.1, leaves siblings at least 0.4 apart while later steps can make up at
most 0.4: greedy, beam and exhaustive search could then never all differ without a tie.)
"""
from __future__ import annotations

import heapq
import functools
import itertools
import math

import numpy as np
from pydantic import field_validator

from generator.errors import ParamError
from generator.params import number, require, string_list, tidy, vector, decimals_at_most
from generator.problem import Problem, Reject, Space, choice
from generator.registry import register, register_kind
from generator.texify import Tex, escape, fmt_num

_TOL = 1e-9          # totals of one-decimal numbers that agree to this are ties
_MAX_SEQUENCES = 10**6
_MAX_BEAMS = 10**4   # distinct beams reachable by breaking ties differently; more is hopeless


# --- the solver -------------------------------------------------------------------------------

def _read(params: dict) -> tuple[list[str], int, int, dict[tuple, list]]:
    """Validated (vocab, depth, beam width, {prefix tuple: log-probs}); ParamError names the field."""
    vocab = string_list(params, "vocab")
    for i, w in enumerate(vocab):
        if not w or any(c.isspace() for c in w):
            raise ParamError(f"vocab[{i}]", f"a word must be non-empty and hold no spaces, got {w!r}")
    if len(set(vocab)) != len(vocab):
        raise ParamError("vocab", f"words must be distinct, got {vocab!r}")
    depth = number(params, "depth", integer=True)
    if depth < 1:
        raise ParamError("depth", f"must be at least 1, got {depth}")
    if depth > 64 or len(vocab) ** depth > _MAX_SEQUENCES:
        raise ParamError("depth", f"{len(vocab)}^{depth} sequences are too many to enumerate")
    width = number(params, "beam_width", integer=True)
    if width < 1:
        raise ParamError("beam_width", f"must be at least 1, got {width}")
    raw = require(params, "logp")
    if not isinstance(raw, dict):
        raise ParamError("logp", f"expected a mapping from prefix to log-probabilities, got {type(raw).__name__}")
    words = set(vocab)
    for key in raw:
        if not isinstance(key, str):
            raise ParamError("logp", f"prefix {key!r} is not a string")
        parts = key.split(" ") if key else []
        if not all(p in words for p in parts):
            raise ParamError(f'logp["{key}"]', "is not a prefix of vocabulary words joined by single spaces")
    table = {}
    for length in range(depth):
        for prefix in itertools.product(vocab, repeat=length):
            key = " ".join(prefix)
            name = f'logp["{key}"]'
            if key not in raw:
                raise ParamError(name, "missing; every prefix shorter than depth needs an entry")
            row = raw[key]
            if not isinstance(row, list):
                raise ParamError(name, f"expected a list of {len(vocab)} log-probabilities, got {row!r}")
            vector({}, name, length=len(vocab), value=row)
            if any(x > 0 for x in row):
                raise ParamError(name, f"log-probabilities must be <= 0, got {row!r}")
            table[prefix] = [float(x) for x in row]
    return vocab, depth, width, table


def _cut_ties(trace: list[list[dict]], width: int) -> dict[int, list[list[str]]]:
    """Step (1-based) -> the candidates tied for the beam's last place there, when more than fit."""
    ties = {}
    for t, step in enumerate(trace, start=1):
        if len(step) > width:
            cut = step[width - 1]["logp"]
            tied = [c["sequence"] for c in step if math.isclose(c["logp"], cut, abs_tol=_TOL)]
            if any(not c["kept"] for c in step if c["sequence"] in tied):
                ties[t] = tied
    return ties


def _result(seq: tuple, total: float) -> dict:
    return {"sequence": list(seq), "logp": tidy(round(total, 10))}


def _words(seq: tuple) -> str:
    return '"' + " ".join(seq) + '"'


def _exhaustive(vocab, depth, table) -> tuple[tuple, float]:
    """Grow every prefix level by level, then take the best full sequence (a tie is ambiguous)."""
    level = {(): 0.0}
    for _ in range(depth):
        level = {p + (w,): s + table[p][i] for p, s in level.items() for i, w in enumerate(vocab)}
    best = max(level.values())
    winners = [p for p, s in level.items() if s >= best - _TOL]
    if len(winners) > 1:
        raise ParamError("logp", f"sequences {', '.join(map(_words, winners))} tie for the largest total {best:g}")
    return winners[0], level[winners[0]]


def _greedy(vocab, depth, table) -> tuple[tuple, float]:
    """Take the likeliest next word at every step; a tie at a step changes the sequence."""
    prefix, total = (), 0.0
    for _ in range(depth):
        row = table[prefix]
        top = max(row)
        choices = [i for i, x in enumerate(row) if x >= top - _TOL]
        if len(choices) > 1:
            raise ParamError(f'logp["{" ".join(prefix)}"]',
                             f"greedy decoding is ambiguous: {', '.join(vocab[i] for i in choices)} tie at {top:g}")
        prefix, total = prefix + (vocab[choices[0]],), total + top
    return prefix, total


def _beam_runs(vocab, depth, width, table) -> list[tuple[list, dict]]:
    """Every way beam search can run, one per way of breaking ties at the beam's last place.

    A run is (trace, final beam): the trace holds, per step, the candidates best first with their
    totals and whether they were kept. Without a tie at the cut there is exactly one run.
    """
    runs = [([], {(): 0.0})]
    for _ in range(depth):
        grown = []
        for trace, beam in runs:
            cands = {p + (w,): s + table[p][i] for p, s in beam.items() for i, w in enumerate(vocab)}
            order = sorted(cands, key=lambda p: (-round(cands[p], 10), [vocab.index(w) for w in p]))
            if len(order) <= width:
                keeps = [set(order)]
            else:
                cut = cands[order[width - 1]]
                sure = [p for p in order if cands[p] > cut + _TOL]
                tied = [p for p in order if abs(cands[p] - cut) <= _TOL]
                if math.comb(len(tied), width - len(sure)) * len(runs) > _MAX_BEAMS:
                    raise ParamError("logp", f"too many ties for the last place of the beam (width {width})")
                keeps = [set(sure) | set(extra) for extra in itertools.combinations(tied, width - len(sure))]
            for kept in keeps:
                step = [{"sequence": list(p), "logp": tidy(round(cands[p], 10)), "kept": p in kept} for p in order]
                grown.append((trace + [step], {p: cands[p] for p in kept}))
        # Runs that reach the same beam behave the same from here on.
        unique = {}
        for trace, beam in grown:
            unique.setdefault(frozenset(beam), (trace, beam))
        runs = list(unique.values())
    return runs


def _beam(vocab, depth, width, table) -> tuple[tuple, float, list]:
    """The best full sequence in the final beam, and the trace; ambiguous if tie-breaking matters."""
    outcomes = {}
    for trace, beam in _beam_runs(vocab, depth, width, table):
        best = max(beam.values())
        winners = [p for p, s in beam.items() if s >= best - _TOL]
        if len(winners) > 1:
            raise ParamError("logp", f"beam search ends with {', '.join(map(_words, winners))} tied at {best:g}")
        outcomes.setdefault(winners[0], (beam[winners[0]], trace))
    if len(outcomes) > 1:
        raise ParamError("logp", f"beam search (width {width}) returns {' or '.join(map(_words, outcomes))} "
                                 "depending on how ties for the last place of the beam are broken")
    (seq, (total, trace)), = outcomes.items()
    return seq, total, trace


def solve_kind(params: dict) -> dict:
    """Exhaustive, greedy and beam-search sequences with their total log-probabilities."""
    return _decode(*_read(params))[0]


def _decode(vocab, depth, width, table) -> tuple[dict, list]:
    """:func:`solve_kind`'s answers from a table already read, and the beam's trace."""
    exhaustive = _result(*_exhaustive(vocab, depth, table))
    greedy = _result(*_greedy(vocab, depth, table))
    seq, total, trace = _beam(vocab, depth, width, table)
    return {"exhaustive": exhaustive, "greedy": greedy, "beam": _result(seq, total)}, trace


# --- the independent check --------------------------------------------------------------------

def check_kind(params: dict) -> dict:
    """Independent route: itertools.product over all sequences, recursive greedy, heap-based beam."""
    vocab, depth, k, logp = params["vocab"], params["depth"], params["beam_width"], params["logp"]

    def score(seq):  # summed straight from the string-keyed table, one step at a time
        return sum(logp[" ".join(seq[:t])][vocab.index(seq[t])] for t in range(len(seq)))

    def same(a, b):
        return math.isclose(a, b, rel_tol=0, abs_tol=1e-9)

    everything = sorted(itertools.product(vocab, repeat=depth), key=score, reverse=True)
    if len(everything) > 1 and same(score(everything[0]), score(everything[1])):
        raise ParamError("logp", "two sequences tie for the largest total")

    def greedy(prefix):
        if len(prefix) == depth:
            return prefix
        row = logp[" ".join(prefix)]
        ranked = sorted(range(len(vocab)), key=lambda i: row[i], reverse=True)
        if len(ranked) > 1 and same(row[ranked[0]], row[ranked[1]]):
            raise ParamError(f'logp["{" ".join(prefix)}"]', "greedy tie")
        return greedy(prefix + (vocab[ranked[0]],))

    def finals(beam, step):
        """Every sequence beam search can return from ``beam`` at ``step``, over all tie-breaks."""
        if step == depth:
            top = heapq.nlargest(2, beam, key=score)
            if len(top) > 1 and same(score(top[0]), score(top[1])):
                raise ParamError("logp", "the final beam has a tie for best")
            return {top[0]}
        cands = [p + (w,) for p in beam for w in vocab]
        if len(cands) <= k:
            return finals(cands, step + 1)
        last = score(heapq.nlargest(k, cands, key=score)[-1])
        above = [c for c in cands if score(c) > last and not same(score(c), last)]
        at = [c for c in cands if same(score(c), last)]
        found = set()
        for extra in itertools.combinations(at, k - len(above)):
            found |= finals(above + list(extra), step + 1)
        return found

    beam = finals([()], 0)
    if len(beam) > 1:
        raise ParamError("logp", "beam search result depends on tie-breaking")
    pack = lambda seq: {"sequence": list(seq), "logp": score(seq)}
    return {"exhaustive": pack(everything[0]), "greedy": pack(greedy(())), "beam": pack(beam.pop())}


register_kind("beam-search", solve_kind, check_kind)


# --- the exam problem -------------------------------------------------------------------------

def _other(a: float) -> float:
    """The sibling's log-probability, ln(1 - e^a), rounded to one decimal like every label."""
    return round(math.log(1 - math.exp(a)), 1)


class BeamSpace(Space):
    """Vocabulary, beam width (2), and the log-probabilities of a node's likelier child."""

    vocab: tuple[str, str] = ("deep", "learn")
    beam_width: int = 2
    top_logps: tuple[float, ...] = (-0.1, -0.2, -0.3, -0.4, -0.5, -0.6)
    """Each node's likelier child has one of these log-probabilities a; the other has ln(1 - e^a)."""

    @field_validator("vocab")
    @classmethod
    def _words(cls, v):
        if v[0] == v[1] or any(not w.isalnum() for w in v):
            raise ValueError("two distinct words of letters and digits")
        return v

    @field_validator("beam_width")
    @classmethod
    def _width(cls, v):
        # Width 3 keeps three of the four prefixes after step 2; the dropped one would have to
        # overtake all three in one step, which one-decimal branches of this tree cannot do.
        if v != 2:
            raise ValueError("the three-step binary tree needs beam width 2 for the decoders to differ")
        return v

    @field_validator("top_logps")
    @classmethod
    def _logps(cls, v):
        if not v or any(not (math.log(0.5) < a < 0 and decimals_at_most(a)) for a in v):
            raise ValueError("one-decimal log-probabilities between -0.6 and -0.1 (a likelier child has p > 0.5)")
        return v


DEPTH = 3  # the figure draws a three-step binary tree


@functools.lru_cache(maxsize=8)
def _last_levels(top_logps: tuple[float, ...], prefixes: int) -> np.ndarray:
    """Every choice of the likelier child's log-probability below each prefix (built once, read-only)."""
    grid = np.array(list(itertools.product(top_logps, repeat=prefixes)))
    grid.setflags(write=False)
    return grid


@register
class BeamSearch(Problem):
    """A three-step, two-word decoding tree: exhaustive vs greedy vs beam search."""

    name = "beam_search"
    Space = BeamSpace

    def draw(self, rng: np.random.Generator) -> dict:
        """Draw the first two levels, then a last level that makes the three decoders differ.

        Random trees almost never separate all three decoders (about 1 in 1000), so the last level
        is chosen among those that do. It only matters through the likelier child's log-probability
        at each of the four length-2 prefixes: the best sequence below a prefix continues with that
        child. All 6^4 choices are tried (in tenths, exact integers) and one that works is drawn.
        ``validate`` then confirms the instance with the full solver.
        """
        s = self.space
        vocab, k = list(s.vocab), s.beam_width

        def node(a):  # a node's two branches, the likelier one on a random side
            pair = [a, _other(a)]
            return pair if rng.integers(2) == 0 else pair[::-1]

        pick = lambda: float(choice(rng, s.top_logps))
        logp = {"": node(pick())}
        for w in vocab:
            logp[w] = node(pick())
        tenths = lambda x: int(round(10 * x))
        two = [(u, v) for u in vocab for v in vocab]
        total = {p: tenths(logp[""][vocab.index(p[0])] + logp[p[0]][vocab.index(p[1])]) for p in two}
        ranked = sorted(two, key=lambda p: -total[p])
        if total[ranked[k - 1]] == total[ranked[k]]:
            raise Reject("a tie for the last place of the beam after step 2")
        # The last level can lift one prefix over another by at most the spread of top_logps; the
        # exhaustive winner must overtake two better prefixes, so a wider gap cannot work.
        if total[ranked[0]] - total[ranked[2]] >= tenths(max(s.top_logps)) - tenths(min(s.top_logps)):
            raise Reject("the prefixes after step 2 are too far apart for the decoders to differ")
        kept = set(ranked[:k])
        first = vocab[int(np.argmax(logp[""]))]
        greedy = (first, vocab[int(np.argmax(logp[first]))])
        grid = _last_levels(tuple(s.top_logps), len(two))  # every last level
        best = np.rint(10 * grid).astype(int) + np.array([total[p] for p in two])  # best leaf per prefix
        ins = np.array([p in kept for p in two])
        top2 = np.sort(best, axis=1)[:, -2:]
        beam_best = np.where(ins, best, -10**6)
        beam_top2 = np.sort(beam_best, axis=1)[:, -2:]
        e, b, g = best.argmax(axis=1), beam_best.argmax(axis=1), two.index(greedy)
        # No tie for the best sequence overall or in the beam; exhaustive search's prefix was
        # dropped and is not greedy's; beam search's is not greedy's.
        ok = (top2[:, 1] > top2[:, 0]) & (beam_top2[:, 1] > beam_top2[:, 0]) & ~ins[e] & (e != g) & (b != g)
        fits = grid[ok]
        if not len(fits):
            raise Reject("no last level makes exhaustive, greedy and beam search differ")
        for p, a in zip(two, choice(rng, fits).tolist()):
            logp[" ".join(p)] = node(float(a))
        params = {"vocab": vocab, "depth": DEPTH, "beam_width": k, "logp": logp}
        self._fresh(params)
        return params

    @staticmethod
    def _fresh(params: dict) -> None:
        """What a drawn tree must also do: tell the decoders apart, with no tie even a harmless one."""
        vocab, depth, width, table = _read(params)
        answers, trace = _decode(vocab, depth, width, table)
        if not all(decimals_at_most(x) for row in table.values() for x in row):
            raise Reject("drawn log-probabilities have one decimal")
        seqs = [tuple(answers[a]["sequence"]) for a in ("exhaustive", "greedy", "beam")]
        if len(set(seqs)) < 3:
            raise Reject("exhaustive, greedy and beam search must give three different sequences")
        if _cut_ties(trace, width):
            raise Reject("a tie for the last place of the beam")

    def validate(self, params: dict) -> None:
        try:
            vocab, depth, width, table = _read(params)
            _decode(vocab, depth, width, table)  # refuses what solve_kind refuses
        except ParamError as e:
            raise Reject(e.message) from None
        if len(vocab) != 2 or depth != DEPTH:
            raise Reject("the figure draws a two-word vocabulary over three steps")
        # Ties that change an answer were refused by solve_kind; a harmless one at the beam's cut
        # is shown as such in the key (either tied prefix may be kept).
        if not all(decimals_at_most(x, 2) for row in table.values() for x in row):
            raise Reject("log-probabilities must have at most two decimals to add by hand")

    def items(self, params: dict) -> list:
        return [("beam-search", params)]

    def solve(self, params: dict) -> dict:
        vocab, depth, width, table = _read(params)
        answers, beam_steps = _decode(vocab, depth, width, table)
        leaves = []
        for seq in itertools.product(range(len(vocab)), repeat=depth):  # tree order, top to bottom
            words = tuple(vocab[i] for i in seq)
            terms = [table[words[:t]][i] for t, i in enumerate(seq)]
            leaves.append({"sequence": list(words), "terms": terms, "logp": tidy(round(sum(terms), 10))})
        greedy_steps, total = [], 0.0
        words = answers["greedy"]["sequence"]
        for t, w in enumerate(words):
            row = table[tuple(words[:t])]
            total += row[vocab.index(w)]
            greedy_steps.append({"prefix": words[:t], "options": row, "choice": w, "logp": tidy(round(total, 10))})
        answers.update(leaves=leaves, greedy_steps=greedy_steps, beam_steps=beam_steps)
        return answers

    def check(self, params: dict) -> dict:
        # Written from the string-keyed table: a recursive walk of the tree for the leaves, and
        # a sort-everything beam; the three answers come from the kind's independent check.
        vocab, k, logp = params["vocab"], params["beam_width"], params["logp"]
        out = check_kind(params)
        leaves = []

        def walk(words, terms):
            if len(words) == params["depth"]:
                leaves.append({"sequence": words, "terms": terms, "logp": sum(terms)})
                return
            for w, x in zip(vocab, logp[" ".join(words)]):
                walk(words + [w], terms + [x])

        walk([], [])
        total_of = {" ".join(leaf["sequence"][:t]): sum(leaf["terms"][:t])
                    for leaf in leaves for t in range(params["depth"] + 1)}
        g = out["greedy"]["sequence"]
        greedy_steps = [{"prefix": g[:t], "options": logp[" ".join(g[:t])], "choice": g[t],
                         "logp": total_of[" ".join(g[:t + 1])]} for t in range(len(g))]
        beam_steps, beam = [], [""]
        rank = {" ".join(leaf["sequence"][:t]): i  # tree order of a prefix, as in the key's tables
                for i, leaf in enumerate(leaves) for t in range(params["depth"] + 1)}
        for _ in range(params["depth"]):
            cands = [(p + " " + w).strip() for p in beam for w in vocab]
            cands.sort(key=lambda c: (-round(total_of[c], 10), rank[c]))
            beam = cands[:k]
            beam_steps.append([{"sequence": c.split(" "), "logp": total_of[c], "kept": c in beam} for c in cands])
        out.update(leaves=leaves, greedy_steps=greedy_steps, beam_steps=beam_steps)
        return out

    def final_answers(self, answers: dict) -> dict:
        return {part: [answers[which]["sequence"], answers[which]["logp"]]
                for part, which in (("a", "exhaustive"), ("b", "greedy"), ("c", "beam"))}

    def summary(self, params: dict, answers: dict) -> dict[str, str]:
        """Part name -> the short final answer a grader checks, as trusted LaTeX."""
        seq = lambda words: f"\\textsf{{{escape(' '.join(words), what='beam-search word')}}}"
        final = lambda which: f"{seq(answers[which]['sequence'])}, $\\log p = {fmt_num(answers[which]['logp'])}$"
        ties = _cut_ties(answers["beam_steps"], params["beam_width"])

        def beam_after(t: int, step: list[dict]) -> str:
            tied = ties.get(t, [])
            kept = [seq(c["sequence"]) for c in step if c["kept"] and c["sequence"] not in tied]
            if tied:  # either of these may hold the last place: the grader accepts each
                kept.append(" or ".join(seq(s) for s in tied) + " (tie)")
            return ", ".join(kept)

        beams = " / ".join(beam_after(t, step) for t, step in enumerate(answers["beam_steps"], start=1))
        return {"a": Tex(final("exhaustive")), "b": Tex(final("greedy")),
                "c": Tex(f"{final('beam')}; beams: {beams}")}

    def given(self, params: dict) -> dict:
        """Node positions of the left-to-right tree figure (cm): leaves evenly spaced, parents centred."""
        vocab, depth, logp = params["vocab"], params["depth"], params["logp"]
        dx, dy = 3.6, 0.68
        nodes = [{"id": "n", "parent": None, "word": None, "logp": None, "x": 0.0,
                  "y": round(-(len(vocab) ** depth - 1) / 2 * dy, 3), "leaf": False, "upper": False, "sequence": ""}]
        for length in range(1, depth + 1):
            for seq in itertools.product(range(len(vocab)), repeat=length):
                # Leaves below this node occupy a contiguous run; centre the node on it.
                first = sum(i * len(vocab) ** (depth - 1 - t) for t, i in enumerate(seq))
                span = len(vocab) ** (depth - length)
                y = -(first + (span - 1) / 2) * dy
                parent = seq[:-1]
                nodes.append({"id": "n" + "".join(str(i) for i in seq),
                              "parent": "n" + "".join(str(i) for i in parent),
                              "word": vocab[seq[-1]],
                              "logp": logp[" ".join(vocab[i] for i in parent)][seq[-1]],
                              "x": length * dx, "y": round(y, 3), "leaf": length == depth,
                              "upper": seq[-1] == 0, "sequence": " ".join(vocab[i] for i in seq)})
        labels = [x for row in logp.values() for x in row]
        decimals = 1 if all(decimals_at_most(x) for x in labels) else 2
        return {"tree": nodes, "decimals": decimals}

    def key_context(self, params: dict, answers: dict) -> dict:
        """Where beam search lost the best sequence (the step that dropped its prefix), and ties."""
        best, lost = answers["exhaustive"]["sequence"], None
        for t, step in enumerate(answers["beam_steps"]):
            for c in step:
                if c["sequence"] == best[:t + 1] and not c["kept"]:
                    lost = {"step": t + 1, "sequence": c["sequence"], "logp": c["logp"]}
            if lost:
                break
        ties = [{"step": t, "tied": tied} for t, tied in _cut_ties(answers["beam_steps"], params["beam_width"]).items()]
        return {"lost": lost, "ties": ties}
