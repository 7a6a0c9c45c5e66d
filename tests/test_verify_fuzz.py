"""verify never tracebacks: any field of a roster build's manifest replaced by a value of the
wrong type or size gives FAIL lines (exit 1) or one qbank: line (exit 2)."""
from __future__ import annotations

import json
import random

from generator.cli import main

EXAM = "bank/exams/tiny.yaml"
WRONG = (None, "x", [], {}, -1, 10**30, 0.5, {"a": {"b": []}})


def _paths(value, path=()):
    if path:
        yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, path + (i,))


def test_no_manifest_field_of_any_type_makes_verify_traceback(runner, tmp_bank):
    (tmp_bank / "roster.csv").write_text("name,sid\nAda,1\nBo,2\nCy,3\n")
    assert runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", "--roster", "roster.csv"]).exit_code == 0
    path = tmp_bank / "o" / "manifest.json"
    clean = json.loads(path.read_text())
    fields = list(_paths(clean))
    rng = random.Random(11)
    for field in rng.sample(fields, 30):
        value = rng.choice(WRONG)
        data = json.loads(json.dumps(clean))
        target = data
        for k in field[:-1]:
            target = target[k]
        if target[field[-1]] == value:
            continue
        target[field[-1]] = value
        path.write_text(json.dumps(data))
        r = runner.invoke(main, ["verify", "o"])
        if field[0] == "libraries" or field[-1] == "row_index" or "hashes" in field or field[-1] == "template_sha256" \
                or field == ("exam", "sha256"):
            # recorded for people (library versions), unused without seating, or a source hash (a note)
            assert r.exit_code in (0, 1) and "Traceback" not in r.output, (field, value, r.output)
            continue
        assert r.exit_code in (1, 2) and "Traceback" not in r.output, (field, value, r.output)
        assert r.exit_code == 1 or len(r.output.strip().splitlines()) == 1, (field, value, r.output)
