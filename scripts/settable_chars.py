"""Which characters pdflatex can set in qbank's documents (T1 + TS1 fonts, utf8 input, Latin Modern).

Candidates are the characters LaTeX's utf8 input declares for the encodings a qbank document
loads (the ``.dfu`` files of T1, TS1, OT1, OMS); each is then compiled, upright, bold, italic and
sans serif, and kept only if TeX neither stops nor drops it (``Missing character``). Prints the
result as code-point ranges for ``generator/texify.py``'s ``_SETTABLE``. Needs TeX Live.

    .venv/bin/python scripts/settable_chars.py
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

PREAMBLE = r"""\documentclass{article}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\usepackage{lmodern}
\tracinglostchars=2
\begin{document}
"""
STYLES = ["", r"\bfseries", r"\itshape", r"\sffamily", r"\bfseries\itshape"]


def candidates() -> list[int]:
    found = set()
    for name in ("t1enc.dfu", "ts1enc.dfu", "ot1enc.dfu", "omsenc.dfu", "utf8.def"):
        path = subprocess.run(["kpsewhich", name], capture_output=True, text=True).stdout.strip()
        text = Path(path).read_text(encoding="latin-1")
        found |= {int(h, 16) for h in re.findall(r"\\DeclareUnicodeCharacter\{([0-9A-Fa-f]{4,5})\}", text)}
    # ASCII is handled by the escaper itself; text is NFC-normalised before the check, so a
    # character NFC changes (the ohm sign becomes Greek omega) never reaches TeX as itself.
    return sorted(c for c in found if c >= 0xA0 and unicodedata.normalize("NFC", chr(c)) == chr(c))


def settable(codes: list[int]) -> list[int]:
    """Compile every candidate in every style; keep those that neither error nor go missing."""
    bad: set[int] = set()
    body = "".join(f"\\message{{[U+{c:04X}]}}{{{style} {chr(c)}}}\\par\n" for c in codes for style in STYLES)
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "t.tex").write_text(PREAMBLE + body + "\\end{document}\n", encoding="utf-8")
        subprocess.run(["pdflatex", "-interaction=nonstopmode", "t.tex"], cwd=d, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = (Path(d) / "t.log").read_text(errors="replace")
    current = None
    for line in log.splitlines():
        for m in re.finditer(r"\[U\+([0-9A-F]+)\]", line):
            current = int(m.group(1), 16)
        if current is not None and (line.startswith("!") or "Missing character" in line):
            bad.add(current)
    return [c for c in codes if c not in bad]


def ranges(codes: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for c in codes:
        if out and out[-1][1] == c - 1:
            out[-1] = (out[-1][0], c)
        else:
            out.append((c, c))
    return out


if __name__ == "__main__":
    codes = candidates()
    good = settable(codes)
    print(f"# {len(good)} of {len(codes)} candidates set", file=sys.stderr)
    print(", ".join(f"(0x{a:04X}, 0x{b:04X})" for a, b in ranges(good)))
