#!/usr/bin/env bash
# Install TeX Live and poppler from Debian packages when pdflatex, latexmk or pdftotext is missing.
set -euo pipefail
PACKAGES="texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-pictures latexmk lmodern poppler-utils"
missing=0
for tool in pdflatex latexmk pdftotext pdftoppm; do
  command -v "$tool" >/dev/null 2>&1 || missing=1
done
[ "$missing" = 0 ] && exit 0
echo "TeX Live or poppler is missing; installing: $PACKAGES"
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "qbank: cannot install TeX Live: not root and no sudo. Ask an administrator to run:" >&2
  echo "  apt-get install $PACKAGES" >&2
  echo "or build without PDFs: qbank build --no-pdf" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "qbank: no apt-get on this machine; install TeX Live (pdflatex, latexmk, lmodern, tikz, pgfplots) and poppler-utils yourself." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
echo "TeX Live installed."
