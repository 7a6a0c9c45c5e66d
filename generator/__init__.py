"""qbank: exams and answer keys from a bank of parametrized YAML problems.

The library's entry points are in :mod:`generator.api` (build, verify, check, solve, export);
the ``qbank`` command line (:mod:`generator.cli`) is a thin layer over them.
"""
