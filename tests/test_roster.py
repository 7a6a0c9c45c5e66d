"""Rosters, seating charts and version assignment (reliability checklist items 11 and 12)."""
from __future__ import annotations

import hashlib
import random
import re
from collections import Counter

import pytest

from generator.errors import QbankError, SpecError
from generator.output import safe_child
from generator.roster import Seat, Student, assign_versions, assignments_csv, read_roster, read_seating, records


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def errors(fn, *args) -> list[str]:
    with pytest.raises(SpecError) as info:
        fn(*args)
    return info.value.messages


def h8(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()[:8]


def roster_of(tmp_path, *sids: str) -> list[Student]:
    return read_roster(write(tmp_path, "roster.csv", "name,sid\n" + "".join(f"N{i},{s}\n" for i, s in enumerate(sids))))


# --- rosters -------------------------------------------------------------------------------------

def test_bom_blank_lines_extra_columns_quotes_and_crlf_are_accepted(tmp_path):
    text = ("\ufeffEmail, NAME ,SID\r\n\r\n"
            'ada@x.org,"Lovelace, Ada",3031\r\n'
            ",,\r\n"
            "zoe@x.org,  Zoe\u0308 Saldan\u0303a , 0042 \r\n")
    students = read_roster(write(tmp_path, "roster.csv", text))
    assert students == [
        Student(line=3, sid="3031", name="Lovelace, Ada", folder="3031"),
        Student(line=5, sid="0042", name="Zo\u00eb Salda\u00f1a", folder="0042"),  # NFC-normalised
    ]


def test_accented_latin_names_are_accepted(tmp_path):
    path = write(tmp_path, "roster.csv", "sid,name\n1,François Müller\n2,Łukasz Żółć\n3,O'Brien-Smith\n")
    assert [s.name for s in read_roster(path)] == ["François Müller", "Łukasz Żółć", "O'Brien-Smith"]


def test_a_quoted_name_spanning_lines_is_refused_and_later_lines_keep_their_numbers(tmp_path):
    path = write(tmp_path, "roster.csv", 'name,sid\n"Ada\nLovelace",1\nBob,1\n')
    assert errors(read_roster, path) == [
        f"{path}:2: name: a line break inside a quoted field (is a closing \" missing?)",
        f"{path}:4: sid: duplicate SID '1' (first on line 2)",
    ]


def test_an_unclosed_quote_is_named_as_such(tmp_path):
    """It swallows the rest of the file into one field; the message was 'control character U+000A'."""
    path = write(tmp_path, "roster.csv", 'name,sid\n"Ada Lovelace,1001\nAlan Turing,1002\n')
    assert errors(read_roster, path)[0] == f"{path}:2: name: a line break inside a quoted field (is a closing \" missing?)"


@pytest.mark.parametrize("sep, named", [(";", "';'"), ("\t", "tabs")])
def test_a_roster_separated_by_semicolons_or_tabs_says_so(tmp_path, sep, named):
    path = write(tmp_path, "roster.csv", f"name{sep}sid\nAda{sep}1\n")
    assert errors(read_roster, path)[0] == (f"{path}:1: (header): missing column 'name'; found columns: name{sep}sid "
                                            f"(the file separates columns with {named}; save it as CSV, with commas)")


def test_every_problem_in_the_roster_is_reported_at_once(tmp_path):
    path = write(tmp_path, "roster.csv",
                 "name,sid\nAda,3031\nBob,3032\nCy,3031\n,3033\nDee,\nEve\x07,3035\nFay,3036\x00\n"
                 f"Gus,{'9' * 65}\nHal,3031\n")
    assert errors(read_roster, path) == [
        f"{path}:4: sid: duplicate SID '3031' (first on line 2)",
        f"{path}:5: name: empty",
        f"{path}:6: sid: empty",
        f"{path}:7: name: control character U+0007 is not allowed",
        f"{path}:8: sid: control character U+0000 is not allowed",
        f"{path}:9: sid: longer than 64 characters (65)",
        f"{path}:10: sid: duplicate SID '3031' (first on line 2)",
    ]


def test_missing_columns_name_what_was_found(tmp_path):
    path = write(tmp_path, "roster.csv", "\n\nname, email\nAda,a@x\n")
    assert errors(read_roster, path) == [f"{path}:3: (header): missing column 'sid'; found columns: name, email"]
    path = write(tmp_path, "roster.csv", "Ada,3031\nBob,3032\n")  # no header row at all
    assert errors(read_roster, path) == [
        f"{path}:1: (header): missing column 'name'; found columns: Ada, 3031",
        f"{path}:1: (header): missing column 'sid'; found columns: Ada, 3031",
    ]
    path = write(tmp_path, "roster.csv", "sid,name,SID\n1,Ada,2\n")
    assert errors(read_roster, path) == [f"{path}:1: (header): column 'sid' appears 2 times"]


@pytest.mark.parametrize("content", ["", "\ufeff", "\n\n  \n", ",,\n"])
def test_an_empty_file_is_an_error(tmp_path, content):
    path = write(tmp_path, "roster.csv", content)
    assert errors(read_roster, path) == [f"{path}: empty file"]


def test_a_roster_with_a_header_but_no_students_is_an_error(tmp_path):
    path = write(tmp_path, "roster.csv", "\ufeffname,sid\n\n,\n")
    assert errors(read_roster, path) == [f"{path}: no students (the file has a header but no rows)"]


def test_a_file_that_is_not_utf8_gives_one_clear_error(tmp_path):
    path = write(tmp_path, "roster.csv", "name,sid\nAda,1\nRen\u00e9,2\n".encode("latin-1"))
    assert errors(read_roster, path) == [f"{path}:3: (encoding): byte 0xE9 is not UTF-8; save the file as 'CSV UTF-8'"]


def test_a_missing_file_is_an_error(tmp_path):
    path = tmp_path / "nope.csv"
    assert errors(read_roster, path) == [f"{path}: no such file"]


def test_characters_pdflatex_cannot_set_are_refused_per_line(tmp_path):
    path = write(tmp_path, "roster.csv", "name,sid\nAda,1\n王小明,2\nBob,\u20ac\u2603\n")
    assert errors(read_roster, path) == [
        f"{path}:3: name: character '王' (U+738B, CJK UNIFIED IDEOGRAPH-738B) cannot be typeset by pdflatex; "
        "replace or transliterate it",
        f"{path}:4: sid: character '☃' (U+2603, SNOWMAN) cannot be typeset by pdflatex; replace or transliterate it",
    ]


# --- folders -------------------------------------------------------------------------------------

ODD_SIDS = ["../x", "a/b", ".", "..", "con", "LPT1", "-rf", "..\\..\\etc", "a b c", "A1", "a1", "é1", "è1",
            "x", "Z" * 64, "_hidden", "~root", "$HOME", "s;rm -rf ~"]


def test_odd_sids_give_safe_unique_folders_inside_the_base(tmp_path):
    students = roster_of(tmp_path, *ODD_SIDS)
    folders = {s.sid: s.folder for s in students}
    assert folders["a/b"] == "a_b"
    assert folders["-rf"] == "rf"
    assert folders["..\\..\\etc"] == "etc"
    assert folders["Z" * 64] == "Z" * 64
    assert folders["_hidden"] == "hidden"
    assert folders["$HOME"] == "HOME" and folders["a b c"] == "a_b_c"
    assert folders["s;rm -rf ~"] == "s_rm_-rf_"
    assert folders["."] == h8(".") and folders[".."] == h8("..")  # nothing left: the hash alone
    assert folders["con"] == f"con-{h8('con')}" and folders["LPT1"] == f"LPT1-{h8('LPT1')}"  # Windows devices
    # '../x' and 'x' both clean to 'x', 'A1'/'a1' differ only in case, 'é1'/'è1' both clean to '1'
    for sid in ("../x", "x", "A1", "a1"):
        assert folders[sid] == f"{sid[-2:].lstrip('/')}-{h8(sid)}"
    assert folders["é1"] == f"1-{h8('é1')}" and folders["è1"] == f"1-{h8('è1')}"

    assert len({f.lower() for f in folders.values()}) == len(ODD_SIDS)
    base = tmp_path / "out"
    base.mkdir()
    for folder in folders.values():
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", folder)
        safe_child(base, folder).mkdir()
    assert len(list(base.iterdir())) == len(ODD_SIDS)
    assert not (tmp_path / "x").exists() and not (tmp_path / "etc").exists()


def test_a_lone_odd_sid_keeps_its_readable_folder(tmp_path):
    assert [s.folder for s in roster_of(tmp_path, "../x", "a/b", "3031")] == ["x", "a_b", "3031"]


# --- seating -------------------------------------------------------------------------------------

ROSTER = "name,sid\nAda,1\nBob,2\nCy,3\nDee,4\n"


def test_seating_reads_rows_as_numbers_or_letters(tmp_path):
    students = read_roster(write(tmp_path, "roster.csv", ROSTER))
    path = write(tmp_path, "seating.csv", "\ufeff Seat ,ROW,sid,note\n\n3,a,1,x\n4,B,2,\n1,AA,3,\n2, 7 ,4,\n")
    assert read_seating(path, students) == {
        "1": Seat(line=3, sid="1", row=1, seat=3, row_label="A"),
        "2": Seat(line=4, sid="2", row=2, seat=4, row_label="B"),
        "3": Seat(line=5, sid="3", row=27, seat=1, row_label="AA"),
        "4": Seat(line=6, sid="4", row=7, seat=2, row_label="7"),
    }


def test_every_seating_problem_is_reported(tmp_path):
    students = read_roster(write(tmp_path, "roster.csv", ROSTER + "Eve,0042\nFay,6\n"))
    path = write(tmp_path, "seating.csv",
                 "sid,row,seat\n1,1,1\n2,1,1\n1,1,2\n9,1,3\n42,1,4\n3,0,1\n3,A1,x\n4,1.5,-1\n,2,2\n4,1,3\n")
    assert errors(read_seating, path, students) == [
        f"{path}:3: seat: row 1 seat 1 is already taken by '1' (line 2)",
        f"{path}:4: sid: '1' is seated twice (first on line 2)",
        f"{path}:5: sid: '9' is not in the roster",
        f"{path}:6: sid: '42' is not in the roster (the roster has '0042'; did a spreadsheet drop leading zeros?)",
        f"{path}:7: row: '0' is not a row (write 1, 2, 3, ... or A, B, ..., Z, AA, ...)",
        f"{path}:8: row: 'A1' is not a row (write 1, 2, 3, ... or A, B, ..., Z, AA, ...)",
        f"{path}:8: seat: 'x' is not a seat number (write a positive integer)",
        f"{path}:9: row: '1.5' is not a row (write 1, 2, 3, ... or A, B, ..., Z, AA, ...)",
        f"{path}:9: seat: '-1' is not a seat number (write a positive integer)",
        f"{path}:10: sid: empty",
        f"{path}:11: seat: row 1 seat 3 is already taken by '9' (line 5)",
        f"{path}: sid: '0042' (roster line 6) has no seat",
        f"{path}: sid: '6' (roster line 7) has no seat",
    ]


def test_seating_file_level_errors(tmp_path):
    students = read_roster(write(tmp_path, "roster.csv", ROSTER))
    path = write(tmp_path, "seating.csv", "sid,seat\n1,1\n")
    assert errors(read_seating, path, students) == [
        f"{path}:1: (header): missing column 'row'; found columns: sid, seat"]
    path = write(tmp_path, "seating.csv", "sid,row,seat\n")
    assert errors(read_seating, path, students) == [f"{path}: no seats (the file has a header but no rows)"]
    path = write(tmp_path, "seating.csv", b"sid,row,seat\n1,\xff,1\n")
    assert errors(read_seating, path, students) == [
        f"{path}:2: (encoding): byte 0xFF is not UTF-8; save the file as 'CSV UTF-8'"]
    path = write(tmp_path, "seating.csv", "sid,row,seat\n1,1," + "9" * 5000 + "\n2,1,2\n3,1,3\n4,1,4\n")
    assert errors(read_seating, path, students) == [  # far past int()'s digit limit: an error, not a crash
        f"{path}:2: seat: '{'9' * 5000}' is not a seat number (write a positive integer)"]


# --- assigning versions --------------------------------------------------------------------------

def people(n: int) -> list[Student]:
    return [Student(i + 2, f"s{i}", f"Name {i}", f"s{i}") for i in range(n)]


def seat_all(students, places) -> dict[str, Seat]:
    return {s.sid: Seat(s.line, s.sid, r, c) for s, (r, c) in zip(students, places)}


def clashes(students, seats, assignment) -> list[tuple[str, str]]:
    """Brute force: every pair of students who are neighbours and share a version."""
    return [(a.sid, b.sid) for a in students for b in students
            if a.sid < b.sid and assignment[a.sid] == assignment[b.sid]
            and abs(seats[a.sid].row - seats[b.sid].row) + abs(seats[a.sid].seat - seats[b.sid].seat) == 1]


def test_without_seats_versions_go_round_robin_in_roster_order():
    students = people(7)
    assert list(assign_versions(students, ["A", "B", "C"]).values()) == ["A", "B", "C", "A", "B", "C", "A"]
    assert set(assign_versions(students, ["only"]).values()) == {"only"}


@pytest.mark.parametrize("seed", range(12))
def test_no_neighbours_share_a_version_in_random_seatings_with_gaps(seed):
    rng = random.Random(seed)
    rows, cols = rng.randint(1, 12), rng.randint(1, 12)
    grid = [(r, c) for r in range(1, rows + 1) for c in range(1, cols + 1)]
    places = rng.sample(grid, rng.randint(1, len(grid)))
    students = people(len(places))
    seats = seat_all(students, places)
    for k in range(2, 7):
        labels = [chr(65 + i) for i in range(k)]
        assignment = assign_versions(students, labels, seats)
        assert set(assignment) == {s.sid for s in students}
        assert set(assignment.values()) <= set(labels)
        assert clashes(students, seats, assignment) == []
        shuffled = dict(rng.sample(list(seats.items()), len(seats)))
        assert assign_versions(students, labels, shuffled) == assignment  # deterministic


@pytest.mark.parametrize("rows,cols", [(1, 1), (1, 7), (5, 6), (7, 7), (9, 11), (12, 3)])
def test_versions_are_balanced_on_a_full_grid(rows, cols):
    students = people(rows * cols)
    seats = seat_all(students, [(r, c) for r in range(1, rows + 1) for c in range(1, cols + 1)])
    for k in range(2, 7):
        labels = [chr(65 + i) for i in range(k)]
        assignment = assign_versions(students, labels, seats)
        count = Counter(assignment.values())
        sizes = [count[label] for label in labels]
        assert max(sizes) - min(sizes) <= 1, (k, sizes)
        assert clashes(students, seats, assignment) == []


def test_one_version_with_neighbours_is_refused_naming_them():
    students = people(3)
    seats = seat_all(students, [(1, 1), (3, 5), (2, 5)])
    with pytest.raises(QbankError) as info:
        assign_versions(students, ["A"], seats)
    assert info.value.message == ("students 's2' (row 2, seat 5) and 's1' (row 3, seat 5) are neighbours; "
                                  "at least 2 versions are needed so that neighbours get different versions")


def test_one_version_is_fine_when_nobody_sits_next_to_anyone():
    students = people(3)
    seats = seat_all(students, [(1, 1), (1, 3), (3, 2)])
    assert assign_versions(students, ["A"], seats) == {"s0": "A", "s1": "A", "s2": "A"}


def test_bad_labels_and_unseated_students_are_refused():
    students = people(2)
    with pytest.raises(QbankError, match=r"^at least one version label is needed$"):
        assign_versions(students, [])
    with pytest.raises(QbankError, match=r"^version labels must differ; got A, B, A$"):
        assign_versions(students, ["A", "B", "A"])
    with pytest.raises(QbankError, match=r"^no seat for student\(s\) 's1'$"):
        assign_versions(students, ["A", "B"], seat_all(students[:1], [(1, 1)]))


# --- the assignment file -------------------------------------------------------------------------

def test_assignments_csv_from_files(tmp_path):
    students = read_roster(write(tmp_path, "roster.csv",
                                 'name,sid\n"Lovelace, Ada",3031\nBob \"B\" Jones,3032\nCy,3033\nDee,3034\n'))
    seats = read_seating(write(tmp_path, "seating.csv", "sid,row,seat\n3031,A,1\n3032,A,2\n3033,B,1\n3034,B,2\n"),
                         students)
    assignment = assign_versions(students, ["A", "B"], seats)
    assert assignments_csv(records(students, assignment, seats)) == (
        "sid,name,row,seat,version\n"
        '3031,"Lovelace, Ada",A,1,A\n'  # rows as the seating file writes them
        '3032,"Bob ""B"" Jones",A,2,B\n'
        "3033,Cy,B,1,B\n"
        "3034,Dee,B,2,A\n"
    )
    round_robin = assign_versions(students, ["A", "B", "C"])
    assert assignments_csv(records(students, round_robin, None)) == (
        "sid,name,row,seat,version\n"
        '3031,"Lovelace, Ada",,,A\n'
        '3032,"Bob ""B"" Jones",,,B\n'
        "3033,Cy,,,C\n"
        "3034,Dee,,,A\n"
    )


def test_the_same_files_give_the_same_output(tmp_path):
    roster = write(tmp_path, "roster.csv", "name,sid\n" + "".join(f"P{i},{i:04d}\n" for i in range(30)))
    seating = write(tmp_path, "seating.csv", "sid,row,seat\n" + "".join(f"{i:04d},{i // 6 + 1},{i % 6 + 1}\n"
                                                                       for i in range(30)))

    def run() -> str:
        students = read_roster(roster)
        seats = read_seating(seating, students)
        return assignments_csv(records(students, assign_versions(students, ["A", "B", "C", "D"], seats), seats))

    assert run() == run()
