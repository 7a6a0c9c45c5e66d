"""Class rosters and seating charts (CSV), and which exam version each student gets."""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .errors import QbankError, SpecError
from .texify import UnsettableCharacter, escape

MAX_SID = 64
MAX_NAME = 200  # characters; TeX's input buffer takes a line of a few thousand escaped characters
MAX_FILE_BYTES = 10 * 1024 * 1024  # a roster of 100,000 students is well under this
# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_PLACE_DIGITS = 6  # rows and seats beyond 999999 are typos, and int() of huge digit strings raises
# Device names Windows refuses as folder names in any case ("con", "LPT1", ...).
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


@dataclass(frozen=True)
class Student:
    line: int  # line number in the roster file (1-based, counting the header)
    sid: str  # as written, stripped
    name: str  # NFC-normalised, stripped
    folder: str  # safe, unique folder name derived from the SID


@dataclass(frozen=True)
class Seat:
    line: int
    sid: str
    row: int  # written as an integer or as letters (A=1, ..., Z=26, AA=27)
    seat: int
    row_label: str = ""
    """The row as the seating file writes it (``C`` or ``3``), for printing."""

    @property
    def row_name(self) -> str:
        return self.row_label or str(self.row)


def _read_rows(path: Path, columns: tuple[str, ...], nothing: str) -> list[tuple[int, dict[str, str]]]:
    """The data rows of a CSV file as ``(line, {column: text})``; file-level problems raise SpecError."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SpecError([f"{path}: no such file"]) from None
    except OSError as e:
        raise SpecError([f"{path}: cannot read: {e.strerror or e}"]) from None
    if len(data) > MAX_FILE_BYTES:
        raise SpecError([f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB; a roster or seating file is at most that"])
    data = data.removeprefix(codecs.BOM_UTF8)  # Excel's "CSV UTF-8" starts with one
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise SpecError([f"{path}:{line}: (encoding): byte 0x{data[e.start]:02X} is not UTF-8; "
                         "save the file as 'CSV UTF-8'"]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header: dict[str, int] | None = None
    rows, end = [], 0
    try:
        for fields in reader:
            start, end = end + 1, reader.line_num  # a quoted field may span several lines
            if not any(f.strip() for f in fields):
                continue  # blank lines and lines of bare commas are spreadsheet noise
            if header is None:
                header = _header(path, start, fields, columns)
            else:
                rows.append((start, {c: fields[i] if i < len(fields) else "" for c, i in header.items()}))
    except csv.Error as e:
        raise SpecError([f"{path}:{reader.line_num}: (file): not valid CSV: {e}"]) from None
    if header is None:
        raise SpecError([f"{path}: empty file"])
    if not rows:
        raise SpecError([f"{path}: {nothing} (the file has a header but no rows)"])
    return rows


def _header(path: Path, line: int, fields: list[str], columns: tuple[str, ...]) -> dict[str, int]:
    """Column positions from the header row, matched case-insensitively."""
    names = [f.replace("\ufeff", "").strip().lower() for f in fields]
    found = ", ".join(f.strip() for f in fields if f.strip())
    errors = []
    other = next((d for d in ";\t" if len(fields) == 1 and d in fields[0]), None)
    hint = f" (the file separates columns with {'tabs' if other == chr(9) else repr(other)}; save it as CSV, with commas)" \
        if other else ""
    for c in columns:
        if c not in names:
            errors.append(f"{path}:{line}: (header): missing column '{c}'; found columns: {found}{hint}")
        elif names.count(c) > 1:
            errors.append(f"{path}:{line}: (header): column '{c}' appears {names.count(c)} times")
    if errors:
        raise SpecError(errors)
    return {c: names.index(c) for c in columns}


def _problem(text: str, column: str) -> str | None:
    """What stops ``text`` from being printed on an exam, as ``column: message``; None if nothing."""
    if not text:
        return f"{column}: empty"
    bad = next((ch for ch in text if unicodedata.category(ch) in ("Cc", "Zl", "Zp")), None)
    if bad in ("\n", "\r"):  # the csv module reads on past an unclosed quote, newlines and all
        return f"{column}: a line break inside a quoted field (is a closing \" missing?)"
    if bad is not None:
        return f"{column}: control character U+{ord(bad):04X} is not allowed"
    try:
        escape(text, what=column)
    except UnsettableCharacter as e:
        return e.message
    return None


def _folders(sids: list[str]) -> list[str]:
    """A safe folder name per SID, unique even where the filesystem ignores case."""
    # Leading '-' goes too: a folder named like an option trips up shell tools.
    plain = [re.sub(r"[^A-Za-z0-9_-]+", "_", sid).lstrip("_-") for sid in sids]
    names = list(plain)
    for n in (8, 16, 64):  # longer hashes only if a short one happens to collide
        count = Counter(x.lower() for x in names)
        clash = [i for i, x in enumerate(names) if not x or count[x.lower()] > 1 or x.lower() in _RESERVED]
        if not clash:
            break
        for i in clash:
            digest = hashlib.sha256(sids[i].encode()).hexdigest()[:n]
            names[i] = f"{plain[i]}-{digest}" if plain[i] else digest
    return names


def read_roster(path: str | Path) -> list[Student]:
    """Read a roster (columns ``name`` and ``sid``); raise SpecError listing every problem in it."""
    path = Path(path)
    errors: list[str] = []
    found: list[tuple[int, str, str]] = []
    first: dict[str, int] = {}
    for line, raw in _read_rows(path, ("name", "sid"), "no students"):
        name = unicodedata.normalize("NFC", raw["name"]).strip()
        sid = unicodedata.normalize("NFC", raw["sid"]).strip()  # José typed two ways is one SID
        sid_problem = _problem(sid, "sid")
        if sid_problem is None and len(sid) > MAX_SID:
            sid_problem = f"sid: longer than {MAX_SID} characters ({len(sid)})"
        name_problem = _problem(name, "name")
        if name_problem is None and len(name) > MAX_NAME:
            name_problem = f"name: longer than {MAX_NAME} characters ({len(name)})"
        if sid_problem is None and sid in first:
            sid_problem = f"sid: duplicate SID {sid!r} (first on line {first[sid]})"
        first.setdefault(sid, line)
        errors += [f"{path}:{line}: {p}" for p in (name_problem, sid_problem) if p]
        found.append((line, sid, name))
    if errors:
        raise SpecError(errors)
    folders = _folders([sid for _, sid, _ in found])
    return [Student(line, sid, name, folder) for (line, sid, name), folder in zip(found, folders)]


def _row(text: str) -> int | None:
    """A row written as a positive integer or as letters (A=1, Z=26, AA=27); None if neither."""
    if re.fullmatch(rf"[0-9]{{1,{MAX_PLACE_DIGITS}}}", text):
        return int(text) or None
    if re.fullmatch(r"[A-Za-z]{1,4}", text):
        value = 0
        for ch in text.upper():
            value = value * 26 + ord(ch) - ord("A") + 1
        return value
    return None


def _seat(text: str) -> int | None:
    """A seat number: a positive integer; None otherwise."""
    if re.fullmatch(rf"[0-9]{{1,{MAX_PLACE_DIGITS}}}", text):
        return int(text) or None
    return None


def read_seating(path: str | Path, students: list[Student]) -> dict[str, Seat]:
    """Read a seating chart (columns ``sid``, ``row``, ``seat``); raise SpecError listing every problem."""
    path = Path(path)
    roster = {s.sid: s for s in students}
    seats: dict[str, Seat] = {}
    taken: dict[tuple[int, int], Seat] = {}
    mentioned: set[str] = set()
    errors: list[str] = []
    for line, raw in _read_rows(path, ("sid", "row", "seat"), "no seats"):
        here = f"{path}:{line}"
        sid, row_text, seat_text = unicodedata.normalize("NFC", raw["sid"]).strip(), raw["row"].strip(), raw["seat"].strip()
        row, seat = _row(row_text), _seat(seat_text)
        mentioned.add(sid)
        ok = True
        if not sid:
            errors.append(f"{here}: sid: empty")
            ok = False
        elif sid not in roster:
            errors.append(f"{here}: sid: {sid!r} is not in the roster{_zeros_hint(sid, roster)}")
            ok = False
        elif sid in seats:
            errors.append(f"{here}: sid: {sid!r} is seated twice (first on line {seats[sid].line})")
            ok = False
        if row is None:
            errors.append(f"{here}: row: {row_text!r} is not a row (write 1, 2, 3, ... or A, B, ..., Z, AA, ...)")
        if seat is None:
            errors.append(f"{here}: seat: {seat_text!r} is not a seat number (write a positive integer)")
        if row is None or seat is None:
            continue
        if (row, seat) in taken:
            other = taken[(row, seat)]
            errors.append(f"{here}: seat: row {other.row_name} seat {seat} is already taken by {other.sid!r} "
                          f"(line {other.line})")
            continue
        taken[(row, seat)] = Seat(line, sid, row, seat, row_text.strip().upper())  # taken even if the SID is wrong
        if ok:
            seats[sid] = taken[(row, seat)]
    for s in students:
        if s.sid not in mentioned:
            errors.append(f"{path}: sid: {s.sid!r} (roster line {s.line}) has no seat")
    if errors:
        raise SpecError(errors)
    return seats


def _zeros_hint(sid: str, roster: dict[str, Student]) -> str:
    """Spreadsheets drop leading zeros from SIDs; point at the roster SID it probably was."""
    match = [r for r in roster if r.lstrip("0") == sid.lstrip("0")]
    return f" (the roster has {match[0]!r}; did a spreadsheet drop leading zeros?)" if match else ""


def _neighbours(students: list[Student], seats: dict[str, Seat]) -> Iterator[tuple[Seat, Seat]]:
    """Every pair of students side by side or one behind the other, in roster order."""
    at = {(seats[s.sid].row, seats[s.sid].seat): seats[s.sid] for s in students}
    for s in students:
        a = seats[s.sid]
        for place in ((a.row, a.seat + 1), (a.row + 1, a.seat)):
            if place in at:
                yield a, at[place]


def assign_versions(students: list[Student], labels: list[str],
                    seats: dict[str, Seat] | None = None) -> dict[str, str]:
    """A version label per SID: round-robin in roster order, or so that no two neighbours share one."""
    if not labels:
        raise QbankError("at least one version label is needed")
    if len(set(labels)) != len(labels):
        raise QbankError(f"version labels must differ; got {', '.join(labels)}")
    k = len(labels)
    if seats is None:
        return {s.sid: labels[i % k] for i, s in enumerate(students)}
    missing = [s.sid for s in students if s.sid not in seats]
    if missing:
        raise QbankError(f"no seat for student(s) {', '.join(map(repr, missing))}")
    if k == 1:
        for a, b in _neighbours(students, seats):
            raise QbankError(
                f"students {a.sid!r} (row {a.row_name}, seat {a.seat}) and {b.sid!r} (row {b.row_name}, seat {b.seat}) "
                "are neighbours; at least 2 versions are needed so that neighbours get different versions")
        return {s.sid: labels[0] for s in students}
    places = [(seats[s.sid].row, seats[s.sid].seat) for s in students]
    r0, s0 = min(r for r, _ in places), min(c for _, c in places)

    # Neighbours differ by 1 in seat or in row, so (seat + m*row) mod k differs between them for
    # any m in 1..k-1; each m rotates the pattern from row to row. Take the most even one.
    def colours(m: int) -> list[int]:
        return [(c - s0 + m * (r - r0)) % k for r, c in places]

    def spread(m: int) -> int:
        count = Counter(colours(m))
        return max(count[i] for i in range(k)) - min(count[i] for i in range(k))

    best = min(range(1, k), key=lambda m: (spread(m), m))
    return {s.sid: labels[c] for s, c in zip(students, colours(best))}


def records(students: list[Student], assignment: dict[str, str], seats: dict[str, Seat] | None) -> list[dict]:
    """One plain record per student, in roster order: sid, name, folder, version, row, seat."""
    out = []
    for s in students:
        place = (seats or {}).get(s.sid)
        out.append({"sid": s.sid, "name": s.name, "folder": s.folder, "version": assignment[s.sid],
                    "row": place.row_name if place else None, "row_index": place.row if place else None,
                    "seat": place.seat if place else None})
    return out


def spreadsheet_cell(text: str) -> str:
    """``text`` as a spreadsheet shows it, never runs it: a leading ``'`` before ``= + - @``, tab or CR."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def assignments_csv(records: list[dict]) -> str:
    """CSV text ``sid,name,row,seat,version``, one line per student in roster order.

    Staff open it in a spreadsheet: names and SIDs that would start a formula get a leading ``'``.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["sid", "name", "row", "seat", "version"])
    for r in records:
        writer.writerow([spreadsheet_cell(r["sid"]), spreadsheet_cell(r["name"]), "" if r["row"] is None else r["row"],
                         "" if r["seat"] is None else r["seat"], r["version"]])
    return out.getvalue()
