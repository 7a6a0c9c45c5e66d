"""The problem library shipped with qbank, installed as the package ``qbank_bank``.

Not imported for its code: qbank loads every bank, this one included, by path (see
``generator.bank``). This file only makes the folder installable with the engine.
"""
