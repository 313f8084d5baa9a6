"""Opening an outbox file (mpaws.outbox_recovery), in this process: the era of a new file,
the next number when the header is older than its lines, lines after the end line. The
power-cut and cut-short cases at every byte are in test_outbox.py."""
import builtins
import io
import os
import re

import pytest

from mpaws import outbox

ERA = "0123abcd"


def write(path, *lines):
    with open(path, "wb") as f:
        f.write(b"".join(line.encode() + b"\n" for line in lines))


def line(message_id, subject="s", body="b"):
    return '["%s", "%s", "%s"]' % (message_id, subject, body)


def test_new_file_starts_at_one_with_a_fresh_era(tmp_path):
    eras = []
    for i in range(20):
        box = outbox.Outbox(str(tmp_path / ("box%d.txt" % i)), 10, "dev")
        assert (box.next, box.count, box.size) == (1, 0, 0)
        message_id = box.add("s", "b")
        assert message_id == "dev.%s-1" % box.era and box.size == len(line(message_id)) + 1
        eras.append(box.era)
    assert all(re.match(r"^[0-9a-f]{8}$", era) for era in eras) and len(set(eras)) == 20
    for a, b in ((0, 2), (2, 4), (4, 6), (0, 6)):  # each byte of the era drawn on its own
        assert any(era[a:a + 2] != era[b:b + 2] for era in eras)


def no_urandom(monkeypatch):
    monkeypatch.delattr(os, "urandom")


def urandom_not_implemented(monkeypatch):
    def urandom(n):
        raise NotImplementedError("no random source")

    monkeypatch.setattr(os, "urandom", urandom)


@pytest.mark.parametrize("port", [no_urandom, urandom_not_implemented], ids=["no-urandom", "urandom-not-implemented"])
def test_a_port_without_urandom_draws_the_era_from_random(tmp_path, monkeypatch, port):
    port(monkeypatch)
    eras = set()
    for i in range(5):
        box = outbox.Outbox(str(tmp_path / ("box%d.txt" % i)), 10, "dev")
        assert box.add("s", "b") == "dev.%s-1" % box.era and re.match(r"^[0-9a-f]{8}$", box.era)
        eras.add(box.era)
    assert len(eras) == 5


def test_header_older_than_its_lines_continues_after_the_highest_id(tmp_path):
    path = str(tmp_path / "outbox.txt")
    write(path, "mpaws-outbox 1 %s 3" % ERA, line("dev.%s-5" % ERA), line("dev.%s-7" % ERA),
          line("dev.ffffeeee-50"), line("dev.%s-x" % ERA), line("other-%s-9" % ERA), "end 5")
    box = outbox.Outbox(path, 10, "dev")
    assert box.era == ERA and box.count == 5
    assert box.size == sum(len(m) + 1 for m in (line("dev.%s-5" % ERA), line("dev.%s-7" % ERA), line("dev.ffffeeee-50"),
                                                line("dev.%s-x" % ERA), line("other-%s-9" % ERA)))
    assert box.add("s", "b") == "dev.%s-8" % ERA  # never one of the ids before it


def test_lines_after_the_end_line_are_kept_in_a_rebuilt_file(tmp_path):
    path = str(tmp_path / "outbox.txt")
    write(path, "mpaws-outbox 1 %s 3" % ERA, line("dev.%s-1" % ERA), "end 1", line("dev.%s-2" % ERA))
    logged = []
    box = outbox.Outbox(path, 10, "dev", log=logged.append)
    assert [m[0] for m in box.messages()] == ["dev.%s-1" % ERA, "dev.%s-2" % ERA] and box.count == 2
    assert box.era != ERA  # rebuilt under a new era: its counter can't be trusted
    assert any("rebuilt, kept 2 complete message(s)" in text for text in logged), logged


@pytest.mark.parametrize("header,kept", [("mpaws-outbox 1 %s 1" % ERA, True), ("mpaws-outbox 1 %s 0" % ERA, False),
                                         ("mpaws-outbox 1 %s x" % ERA, False), ("mpaws-outbox 1 zzzzzzzz 5", False),
                                         ("mpaws-outbox 1 %s" % ERA, False), ("mpaws-outbox 1 \xff\xfe 5", False)])
def test_damaged_header_is_rebuilt_with_the_messages_and_a_new_era(tmp_path, header, kept):
    path = str(tmp_path / "outbox.txt")
    lines = [line("dev.%s-1" % ERA, "a", "same"), line("dev.%s-2" % ERA, "b", "same")]
    write(path, header, *lines, "end 2")
    box = outbox.Outbox(path, 10, "dev")
    assert [m[0] for m in box.messages()] == ["dev.%s-1" % ERA, "dev.%s-2" % ERA]  # both, though alike
    assert box.count == 2 and box.size == sum(len(m) + 1 for m in lines)
    if kept:
        assert box.era == ERA and box.add("s", "b") == "dev.%s-3" % ERA
    else:
        assert box.era != ERA and box.add("s", "b") == "dev.%s-1" % box.era


def test_a_message_in_both_the_file_and_its_unfinished_copy_is_kept_once(tmp_path):
    path = str(tmp_path / "outbox.txt")
    one, two = line("dev.%s-1" % ERA), line("dev.%s-2" % ERA)
    write(path, "mpaws-outbox 1 %s 3" % ERA, one)  # cut short: no end line
    write(path + ".tmp", "mpaws-outbox 1 %s 3" % ERA, one, two)  # the write it was doing, unfinished
    box = outbox.Outbox(path, 10, "dev")
    assert [m[0] for m in box.messages()] == ["dev.%s-1" % ERA, "dev.%s-2" % ERA]
    assert box.size == len(one) + len(two) + 2


@pytest.mark.parametrize("damaged", [
    "not a message", '["dev.%s-2", "s", "b"' % ERA, '{"dev.%s-2": "s"}' % ERA,  # no JSON, no list
    '["dev.%s-2", "s"]' % ERA, '["dev.%s-2", "s", "b", "c"]' % ERA,  # not three items
    '["dev.%s-2", 5, "b"]' % ERA, '["dev.%s-2", "s", null]' % ERA, '[2, "s", "b"]',  # not three strings
    line(""), line("d" * 65), line("dev %s-2" % ERA), line("dev/%s-2" % ERA),  # no id: empty, too long, a space, a /
])
def test_file_with_a_line_that_is_no_message_is_rebuilt(tmp_path, damaged):
    path = str(tmp_path / "outbox.txt")
    write(path, "mpaws-outbox 1 %s 3" % ERA, line("dev.%s-1" % ERA), damaged, "end 1")
    logged = []
    box = outbox.Outbox(path, 10, "dev", log=logged.append)
    assert [m[0] for m in box.messages()] == ["dev.%s-1" % ERA] and box.era != ERA
    assert any("damaged or cut short" in text for text in logged), logged


def test_without_the_file_its_rebuilt_copy_is_taken_before_an_unfinished_write(tmp_path):
    # A cut between removing the old file and renaming the rebuilt one over it.
    path = str(tmp_path / "outbox.txt")
    write(path + ".tmp2", "mpaws-outbox 1 %s 3" % ERA, line("dev.%s-1" % ERA, "rebuilt"), "end 1")
    write(path + ".tmp", "mpaws-outbox 1 %s 3" % ERA, line("dev.%s-2" % ERA, "unfinished"), "end 1")
    logged = []
    box = outbox.Outbox(path, 10, "dev", log=logged.append)
    assert [m[1] for m in box.messages()] == ["rebuilt"] and box.era == ERA
    assert any("recovered the outbox from its rebuilt copy" in text for text in logged), logged


def test_a_line_too_large_to_read_that_is_no_message_is_not_kept(tmp_path, monkeypatch):
    """A line longer than the heap can read (here gc.mem_free() says 4000 bytes, half of
    which a line may take) is judged by its first piece: one that does not start as a
    message line (["<id>", ...) is damage, dropped when the file is rebuilt, however much
    it looks like one further on."""
    import gc

    path = str(tmp_path / "outbox.txt")
    long_line = '{"dev.%s-2": "%s"}' % (ERA, "x" * 6000)
    write(path, "mpaws-outbox 1 %s 3" % ERA, line("dev.%s-1" % ERA), long_line, "end 2")
    monkeypatch.setattr(gc, "mem_free", lambda: 4000, raising=False)  # as MicroPython's
    box = outbox.Outbox(path, 10, "dev")
    assert [m[0] for m in box.messages()] == ["dev.%s-1" % ERA] and len(box) == 1 and box.aside == []
    with open(path, "rb") as f:
        assert b"x" * 100 not in f.read()


def test_a_line_too_large_to_read_with_no_utf8_where_its_id_goes_is_not_kept(tmp_path, monkeypatch):
    """Damage where the id of a line too large to read should be (bytes that are no UTF-8):
    the outbox opens, rebuilt without that line (opening raised UnicodeError)."""
    import gc

    path = str(tmp_path / "outbox.txt")
    with open(path, "wb") as f:
        f.write(b'mpaws-outbox 1 %s 3\n%s\n["\xff\xfe-1", "%s"]\nend 2\n' % (ERA.encode(), line("dev.%s-1" % ERA).encode(),
                                                                           b"x" * 6000))
    monkeypatch.setattr(gc, "mem_free", lambda: 4000, raising=False)  # as MicroPython's
    logged = []
    box = outbox.Outbox(path, 10, "dev", log=logged.append)
    assert [m[0] for m in box.messages()] == ["dev.%s-1" % ERA] and len(box) == 1 and box.aside == []
    assert any("damaged or cut short" in text for text in logged), logged


def test_a_long_line_whose_decoding_runs_out_of_heap_is_set_aside_and_kept(tmp_path, monkeypatch):
    """The heap holds a long line's bytes but not its decoded text (MicroPython raises
    MemoryError while parsing it): the file opens as it is, that message is set aside,
    logged once and kept in the file; the others are read."""
    import json

    path = str(tmp_path / "outbox.txt")
    big = line("dev.%s-2" % ERA, "big", "x" * 3000)
    write(path, "mpaws-outbox 1 %s 4" % ERA, line("dev.%s-1" % ERA), big, line("dev.%s-3" % ERA), "end 3")
    loads = json.loads

    def short_only(data):
        if len(data) > 1024:
            raise MemoryError
        return loads(data)

    monkeypatch.setattr(json, "loads", short_only)
    logged = []
    box = outbox.Outbox(path, 10, "dev", log=logged.append)
    assert box.era == ERA and len(box) == 3 and logged == []  # whole: not rebuilt
    for _ in range(2):
        assert [m[0] for m in box.messages()] == ["dev.%s-1" % ERA, "dev.%s-3" % ERA]
    assert box.aside == ["dev.%s-2" % ERA] and len(box) == 3
    assert sum("set aside" in text for text in logged) == 1, logged
    monkeypatch.undo()
    with open(path) as f:
        assert big + "\n" in f.read()
    assert [m[1] for m in box.messages()] == ["s", "big", "s"]


def test_a_long_line_is_read_when_half_the_free_heap_holds_it_and_set_aside_when_not(tmp_path, monkeypatch):
    import gc

    path = str(tmp_path / "outbox.txt")
    big = line("dev.%s-2" % ERA, "big", "x" * 3000)
    size = len(big) + 1
    write(path, "mpaws-outbox 1 %s 3" % ERA, line("dev.%s-1" % ERA), big, "end 2")
    free = [2 * size - 1]
    monkeypatch.setattr(gc, "mem_free", lambda: free[0], raising=False)  # as MicroPython's
    box = outbox.Outbox(path, 10, "dev")
    assert [m[0] for m in box.messages()] == ["dev.%s-1" % ERA] and box.aside == ["dev.%s-2" % ERA]
    free[0] = 2 * size  # half of it: the line to the byte
    assert [m[1] for m in box.messages()] == ["s", "big"]


@pytest.mark.parametrize("damaged", ["cut", "no id"])
def test_a_line_too_large_to_read_is_kept_only_when_whole_and_with_an_id(tmp_path, monkeypatch, damaged):
    """Judged by its first piece and its end alone: a line cut short (no line break: the
    file lost its end) or whose first piece holds no valid id is damage, not kept."""
    import gc

    path = str(tmp_path / "outbox.txt")
    body = "x" * 6000
    with open(path, "w") as f:
        f.write("mpaws-outbox 1 %s 3\n%s\n" % (ERA, line("dev.%s-1" % ERA)))
        if damaged == "cut":
            f.write(line("dev.%s-2" % ERA, "big", body)[:-10])
        else:
            f.write(line("dev %s-2" % ERA, "big", body) + "\nend 2\n")
    monkeypatch.setattr(gc, "mem_free", lambda: 4000, raising=False)  # as MicroPython's
    logged = []
    box = outbox.Outbox(path, 10, "dev", log=logged.append)
    assert [m[0] for m in box.messages()] == ["dev.%s-1" % ERA] and len(box) == 1 and box.aside == []
    assert any("kept 1 complete message(s)" in text for text in logged), logged
    with open(path) as f:
        assert "x" * 100 not in f.read()


class _ShortReads(io.BufferedReader):
    """A file whose read() of more than 1024 bytes runs out of heap (MicroPython raises
    MemoryError when the line's bytes do not fit after all)."""

    def read(self, n=-1):
        if n > 1024:
            raise MemoryError
        return super().read(n)


def test_a_long_line_whose_reading_runs_out_of_heap_is_set_aside_and_the_next_ones_read(tmp_path, monkeypatch):
    path = str(tmp_path / "outbox.txt")
    write(path, "mpaws-outbox 1 %s 4" % ERA, line("dev.%s-1" % ERA), line("dev.%s-2" % ERA, "big", "x" * 3000),
          line("dev.%s-3" % ERA, "after"), "end 3")
    box = outbox.Outbox(path, 10, "dev")
    monkeypatch.setattr(builtins, "open", lambda p, mode: _ShortReads(io.FileIO(p, mode)))
    assert [m[1] for m in box.messages()] == ["s", "after"] and box.aside == ["dev.%s-2" % ERA]
    monkeypatch.undo()
    assert [m[1] for m in box.messages()] == ["s", "big", "after"]
