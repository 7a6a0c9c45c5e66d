#!/usr/bin/env bash
# Regenerate the golden LaTeX of the pinned original midterm (tests/golden/). Run it only when a
# change to a template or generator is meant to change the output; review the diff before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/qbank build bank/exams/midterm-original.yaml --no-pdf --out "$tmp/out" >/dev/null
cp "$tmp/out/A/exam.tex" "$tmp/out/A/key.tex" "$tmp/out/A/key.json" tests/golden/
echo "tests/golden/ regenerated; review with: git diff tests/golden/"
