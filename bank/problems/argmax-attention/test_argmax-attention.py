"""argmax-attention: the problem's own tests (the bank harness runs it over many seeds as well)."""
from __future__ import annotations

from generator.testing import load_problem
from generator.texify import vec
from generator.testing import has_num

P = load_problem(__file__)


def test_summary_shows_the_key_answers():
    """The grader's summary holds this problem's final answers, over many seeds."""
    for params, answers, summary in P.summaries(50):
        assert str(vec(answers["output"])) in summary["a"]
        assert all(has_num(summary["a"], s) for s in answers["scores"])
