"""verify's exam check: exam.pdf may show a marked answer no more often than its exam.tex prints it
(docs/verify.md). Each case below is one that a looser rule got wrong on builds of the midterm, or
one a forger would try; PDF text as pdftotext -raw gives it, pages separated by form feeds."""
from __future__ import annotations

import pytest

from generator.verify import Report, _check_exam_leaks

HEADER = "DNN 182: Deep Neural Networks • Midterm Exam Version A\n"


def leaks(tmp_path, pdf: str, body: str, marks: list[list[str]], total: int = 0) -> list[str]:
    tex = tmp_path / "exam.tex"
    tex.write_text("\\documentclass{exam}\n\\newcommand{\\x}{123 (4, 0, 0)}\n\\begin{document}\n" + body
                   + "\n\\end{document}\n%% qbank-map: 1-5=1:139 6=2:678\n")
    report = Report()
    _check_exam_leaks(pdf, tex, "A", marks, total, report)
    return report.failures


CLEAN = {
    "a vector the exam gives once (attention's value vectors)":
        ("3 (1, 5, 2) (4, 0, 0)\n", r"3 & $(1, 5, 2)$ & $(4, 0, 0)$ \\", ["1:a:output", "(4, 0, 0)"]),
    "a tree's leaves, each a line (beam search)":
        ("deep\n−2.4 deep deep deep\nlearn\n−0.1 deep deep learn\n",
         r"\node {deep}; \node {deep deep deep}; \node {learn}; \node {deep deep learn};",
         ["7:a:exhaustive.sequence", r"\textsf{deep deep learn}"]),
    "a shape whose digits a tick line and a table header also have":
        ("−6 −5 −4 −3 −2 −1 0 1 2 3 4 5 6 7 8\nProblem 1 2 3 4 5 6 7 8 9 Total\n",
         r"Problem & 1 & 2 & 3 & 4 & 5 & 6 & 7 & 8 & 9 & Total",
         ["6:a:rows.3.shape", r"6\times 7\times 8"]),
    "an answer equal to the points in all, which TeX counts": (
        "Version A 139 points in all\nPoints 5 10 139\n", r"\numpoints\ points in all Points & 5 & 10 & 139",
        ["4:b:dy_dw.value", "139"], 139),
    "an answer equal to an axis tick label (batch norm's |gamma| = 0.8)":
        ("The layer has learned β = −1.5 and γ = 0.8. On the empty grid below\n0\n0.2\n0.4\n0.6\n0.8\ny\np(y)\n",
         r"$\beta = -1.5$ and $\gamma = 0.8$. \begin{tikzpicture}\begin{axis}[ytick distance=0.2]\end{axis}"
         r"\end{tikzpicture}", ["2:a:out_std", "0.8"]),
    "a number in the running header of every page":
        (HEADER + "Problem 1\f" + HEADER + "Problem 2\f" + HEADER, r"\runningheader{DNN 182: Deep}",
         ["3:a:z", "182"]),
    "a layer FC-10 and an answer -10":
        ("FC-10 & 0\n", r"FC{-}10", ["4:a:forward.3.value", "-10"]),
    "an answer with an operator (ln 2) and a problem number 2 that the exam class prints":
        ("Problem 2: Entropy\n", r"\question Entropy", ["2:a:h", r"$\ln 2$"]),
    "a mark shorter than 3 characters":
        ("Answer: B\n", "", ["2:all:correct", "B"]),
}


@pytest.mark.parametrize("case", list(CLEAN))
def test_no_alarm(tmp_path, case):
    pdf, body, mark, *total = CLEAN[case]
    assert leaks(tmp_path, pdf, body, [mark], *total) == []


LEAKS = {
    "a given vector printed once more":
        ("3 (1, 5, 2) (4, 0, 0)\n(Hint: the output is (4, 0, 0).)\n", r"3 & $(1, 5, 2)$ & $(4, 0, 0)$ \\",
         ["1:a:output", "(4, 0, 0)"], "problem 1 part a field output ('4,0,0') 2 time(s), its exam.tex prints it 1"),
    "a number exam.tex has only in its line map, preamble and plot coordinates":
        ("Hint: 139 and 123\n", r"\begin{tikzpicture}\draw (139, 2) -- (0.5, 139); \addplot coordinates {(1,123)};"
                                r"\end{tikzpicture}", ["4:b:dy_dw.value", "139"],
         "problem 4 part b field dy_dw.value ('139') 1 time(s), its exam.tex prints it 0"),
    "a word answer that the exam never prints":
        ("Hint: reading\n", "we speak Spanish", ["8:b:train_inputs.4", "reading"], "field train_inputs.4 ('reading')"),
}


@pytest.mark.parametrize("case", list(LEAKS))
def test_a_leak_names_version_file_problem_part_and_field(tmp_path, case):
    pdf, body, mark, said = LEAKS[case]
    (failure,) = leaks(tmp_path, pdf, body, [mark])
    assert failure.startswith("version A, file exam.pdf: shows the key's answer to ") and said in failure, failure
