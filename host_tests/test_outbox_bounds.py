"""The outbox's bounds, in this process: at most `limit` messages and `max_bytes` bytes of
message lines (CONFIG_OUTBOX_LIMIT, CONFIG_OUTBOX_BYTES). When a new message does not fit,
the oldest are dropped, each with a log line, until it does; a message that could never
fit is refused and nothing is stored or dropped. Checked at the edges (exactly full, one
byte over, lines longer than the pieces a rewrite reads) and against a model of the
rule (the newest messages that fit, oldest first) over random runs of adds and removes,
across restarts."""
import json
import random

import pytest

from mpaws import outbox, outbox_file


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "outbox.txt")


def line_bytes(message_id, subject, body):
    """Bytes of a message's line in the file: its JSON array (UTF-8, ", " between the items)
    and the line break."""
    return len(json.dumps([message_id, subject, body], ensure_ascii=False).encode()) + 1


def open_box(path, limit=50, max_bytes=32768, prefix="dev"):
    lines = []
    return outbox.Outbox(path, limit, prefix, log=lines.append, max_bytes=max_bytes), lines


def held(box):
    return [m[0] for m in box.messages()]


def file_lines(path):
    with open(path, "rb") as f:
        return f.read().split(b"\n")


def next_id(box):
    return "%s.%s-%d" % (box.prefix, box.era, box.next)


def body_for(box, subject, size):
    """A body that makes the next message's line exactly size bytes."""
    return "b" * (size - line_bytes(next_id(box), subject, ""))


def drop_lines(lines):
    return [line for line in lines if "dropped the oldest" in line]


# -- the byte bound at its edges ------------------------------------------------------------


@pytest.mark.parametrize("size", [60, 400])  # lines of one piece of a rewrite, and of several
def test_exactly_full_drops_nothing_and_one_byte_over_drops_the_oldest(path, size):
    box, lines = open_box(path, max_bytes=4 * size)
    ids = [box.add("m%d" % i, body_for(box, "m%d" % i, size)) for i in range(4)]
    assert held(box) == ids and drop_lines(lines) == []  # 4 * size bytes: exactly full
    ids.append(box.add("m4", body_for(box, "m4", size + 1)))  # one byte more than the oldest frees
    assert held(box) == ids[2:] and box.dropped == 2
    assert len(drop_lines(lines)) == 2 and ids[0] in lines[0] and ids[1] in lines[1]
    ids.append(box.add("m5", body_for(box, "m5", size - 1)))  # fills what is left, to the byte
    assert held(box) == ids[2:] and box.dropped == 2
    ids.append(box.add("m6", body_for(box, "m6", size)))  # exactly what dropping the oldest frees
    assert held(box) == ids[3:] and box.dropped == 3
    assert sum(len(line) + 1 for line in file_lines(path)[1:-2]) == 4 * size  # full again, to the byte


def test_a_dropped_line_longer_than_a_piece_frees_all_its_bytes(path):
    """A line of many pieces (a rewrite reads 128 bytes at a time) counts whole: dropping it
    makes room for a new line of its length, and only it is dropped."""
    box, lines = open_box(path, max_bytes=1500)
    big = box.add("big", body_for(box, "big", 1000))
    small = box.add("small", body_for(box, "small", 500))
    new = box.add("new", body_for(box, "new", 1000))
    assert held(box) == [small, new] and box.dropped == 1
    assert drop_lines(lines) == [lines[0]] and big in lines[0]


def test_the_oldest_go_first_until_the_new_one_fits(path):
    box, lines = open_box(path, max_bytes=1000)
    ids = [box.add("m%d" % i, body_for(box, "m%d" % i, 100)) for i in range(10)]
    assert held(box) == ids
    ids.append(box.add("big", body_for(box, "big", 350)))  # needs 4 of the 100-byte lines out
    assert held(box) == ids[4:] and box.dropped == 4
    dropped = drop_lines(lines)
    assert len(dropped) == 4 and all(ids[i] in dropped[i] and "'m%d'" % i in dropped[i] for i in range(4))
    assert all("CONFIG_OUTBOX_BYTES" in line and "CONFIG_OUTBOX_LIMIT" in line for line in dropped)


def test_a_message_of_exactly_the_byte_limit_is_kept_alone(path):
    box, lines = open_box(path, max_bytes=600)
    old = [box.add("old %d" % i, "b") for i in range(3)]
    whole = box.add("whole", body_for(box, "whole", 600))
    assert held(box) == [whole] and box.dropped == 3
    assert [i for i in old if any(i in line for line in drop_lines(lines))] == old


def test_a_message_over_the_byte_limit_is_refused_and_nothing_is_dropped(path):
    box, lines = open_box(path, max_bytes=600)
    kept = [box.add("kept %d" % i, "b") for i in range(3)]
    with open(path, "rb") as f:
        before = f.read()
    body = body_for(box, "big", 601)
    with pytest.raises(ValueError) as refused:
        box.add("big", body)
    message = str(refused.value)
    assert "too large for the outbox" in message and "CONFIG_OUTBOX_BYTES" in message
    assert "601 bytes" in message and "limit of 600" in message
    assert held(box) == kept and box.dropped == 0 and lines == []
    with open(path, "rb") as f:
        assert f.read() == before  # not even rewritten
    assert held(open_box(path, max_bytes=600)[0]) == kept


def test_the_byte_bound_holds_across_a_restart_and_after_removals(path):
    """The bytes held are counted from the file on a restart and kept up to date by every
    add and remove: the same drops follow either way."""
    box, _ = open_box(path, max_bytes=1000)
    ids = [box.add("m%d" % i, body_for(box, "m%d" % i, 250)) for i in range(4)]  # full
    box.remove(ids[1])
    box.remove(ids[2])  # 500 bytes free
    again, lines = open_box(path, max_bytes=1000)
    ids.append(again.add("m4", body_for(again, "m4", 250)))
    ids.append(again.add("m5", body_for(again, "m5", 250)))
    assert held(again) == [ids[0], ids[3], ids[4], ids[5]] and drop_lines(lines) == []
    ids.append(again.add("m6", body_for(again, "m6", 250)))
    assert held(again) == [ids[3], ids[4], ids[5], ids[6]] and again.dropped == 1


# -- the message bound ----------------------------------------------------------------------


def test_a_limit_of_one_keeps_only_the_newest(path):
    box, lines = open_box(path, limit=1)
    ids = [box.add("m%d" % i, "b") for i in range(3)]
    assert held(box) == ids[2:] and box.dropped == 2 and len(box) == 1
    assert len(drop_lines(lines)) == 2


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_under_one_is_refused(path, limit):
    with pytest.raises(ValueError, match="at least 1"):
        outbox.Outbox(path, limit, "dev")


# -- the model: the newest messages that fit, over random runs ------------------------------

TEXT = "ab \"quoted\"\n\\é日🌡\x01"  # escapes and multi-byte characters: bytes stored != characters


@pytest.mark.parametrize("seed", range(6))
def test_runs_of_adds_removes_and_restarts_match_the_model(path, seed):
    rng = random.Random(seed)
    limit, max_bytes = rng.randint(1, 6), rng.randint(150, 1500)
    box, lines = open_box(path, limit, max_bytes)
    model = []  # (id, line bytes), oldest first
    dropped = []
    for step in range(60):
        op = rng.random()
        if op < 0.6:
            subject = "s%d" % step
            body = "".join(rng.choice(TEXT) for _ in range(rng.choice((0, 5, 40, 120, 300, 700))))
            message_id = next_id(box)
            size = line_bytes(message_id, subject, body)
            if size > max_bytes:
                with pytest.raises(ValueError, match="CONFIG_OUTBOX_BYTES"):
                    box.add(subject, body)
            else:
                assert box.add(subject, body) == message_id
                while model and (len(model) + 1 > limit or sum(s for _, s in model) + size > max_bytes):
                    dropped.append(model.pop(0)[0])
                model.append((message_id, size))
        elif op < 0.85:
            gone = rng.choice(model)[0] if model and rng.random() < 0.8 else next_id(box)  # or one never stored
            assert box.remove(gone) == (gone in [i for i, _ in model]), (step, gone)
            model = [m for m in model if m[0] != gone]
        else:
            logged = [line for line in lines if "dropped" in line]
            assert len(logged) == len(dropped) and all(i in line for i, line in zip(dropped, logged))
            box, lines = open_box(path, limit, max_bytes)  # a restart
            dropped = []
        assert held(box) == [i for i, _ in model], (seed, step)
        assert len(box) == len(model)
    logged = [line for line in lines if "dropped" in line]
    assert len(logged) == len(dropped) and all(i in line for i, line in zip(dropped, logged))


# -- ids ------------------------------------------------------------------------------------


def test_an_id_of_the_longest_length_is_stored_and_read_back_after_a_restart(path):
    """An id is <prefix>.<era>-<number>: a prefix that makes it exactly MAX_ID characters
    works, one character more is refused before anything is stored."""
    era = open_box(path)[0].era
    prefix = "p" * (outbox_file.MAX_ID - len(".%s-1" % era))
    box, _ = open_box(path, prefix=prefix)
    message_id = box.add("s", "b")
    assert len(message_id) == outbox_file.MAX_ID and held(open_box(path, prefix=prefix)[0]) == [message_id]
    longer, _ = open_box(path, prefix=prefix + "p")
    with pytest.raises(ValueError, match="message id .* at most %d" % outbox_file.MAX_ID):
        longer.add("s", "b")
    assert held(open_box(path)[0]) == [message_id]


@pytest.mark.parametrize("prefix", ["my device", "dev/1", "dév", 'a"b'])
def test_a_prefix_with_a_character_an_id_cannot_hold_is_refused(path, prefix):
    box, _ = open_box(path, prefix=prefix)
    with pytest.raises(ValueError, match="message id"):
        box.add("s", "b")
    assert held(box) == [] and len(box) == 0


def test_remove_takes_out_that_id_only_never_one_it_begins(path):
    box, _ = open_box(path)
    ids = [box.add("m%d" % i, "b") for i in range(12)]  # ...-1 begins ...-10, ...-11, ...-12
    assert box.remove(ids[0]) and held(box) == ids[1:]
    assert not box.remove(ids[0]) and not box.remove(ids[0][:-1]) and held(box) == ids[1:]
    assert box.remove(ids[10]) and held(box) == ids[1:10] + ids[11:]
    assert held(open_box(path)[0]) == ids[1:10] + ids[11:]


# -- reading: lines around the length read at once -----------------------------------------


@pytest.mark.parametrize("delta", [-2, -1, 0, 1, 2, 200])
def test_a_message_line_around_the_short_line_length_is_read_back_whole(path, delta):
    box, _ = open_box(path)
    first = box.add("before", "b")
    body = body_for(box, "long", outbox_file.SHORT_LINE + delta)
    long_id = box.add("long", body)
    last = box.add("after", "é")
    assert list(box.messages()) == [(first, "before", "b"), (long_id, "long", body), (last, "after", "é")]
    assert list(box.messages(2)) == [(first, "before", "b"), (long_id, "long", body)]
    assert box.oldest() == (first, "before", "b")
    box.remove(first)
    assert box.oldest() == (long_id, "long", body) and box.aside == []


def test_messages_stop_at_the_end_line(path):
    box, _ = open_box(path)
    ids = [box.add("m%d" % i, "b") for i in range(3)]
    assert [m[0] for m in box.messages(0)] == [] and [m[0] for m in box.messages(5)] == ids


# -- a file system whose rename does not replace (FAT) --------------------------------------


def test_every_write_lands_where_rename_does_not_replace(path, monkeypatch):
    import os

    rename = os.rename

    def fat_rename(src, dst):
        if os.path.exists(dst):
            raise OSError(17, "exists")
        rename(src, dst)

    monkeypatch.setattr(os, "rename", fat_rename)
    box, lines = open_box(path, limit=2)
    ids = [box.add("m%d" % i, "b") for i in range(3)]
    assert box.remove(ids[1])
    assert held(box) == [ids[2]] and not os.path.exists(path + ".tmp")
    again, lines = open_box(path, limit=2)
    assert held(again) == [ids[2]] and lines == []  # a complete file: nothing to repair


# -- bounds lowered between two sessions (config.py edited) ---------------------------------


def test_a_lowered_message_limit_drops_the_oldest_down_to_it_at_the_next_message(path):
    box, _ = open_box(path, limit=6)
    ids = [box.add("m%d" % i, "b") for i in range(6)]
    smaller, lines = open_box(path, limit=3)  # CONFIG_OUTBOX_LIMIT lowered
    assert held(smaller) == ids  # nothing lost by opening it
    assert smaller.remove(ids[5]) and held(smaller) == ids[:5] and lines == []  # nor by a removal
    ids.append(smaller.add("new", "b"))
    assert held(smaller) == ids[3:5] + ids[6:] and smaller.dropped == 3
    assert [line for line in drop_lines(lines)] == lines and all(ids[i] in lines[i] for i in range(3))


def test_a_lowered_byte_limit_drops_the_oldest_only_to_make_room_for_a_new_message(path):
    """A removal (a message AWS accepted) never drops others, even from a file over a
    lowered CONFIG_OUTBOX_BYTES: only a new message makes room, with a log line for each."""
    box, _ = open_box(path, max_bytes=2000)
    ids = [box.add("m%d" % i, body_for(box, "m%d" % i, 200)) for i in range(8)]  # 1600 bytes
    smaller, lines = open_box(path, max_bytes=800)
    assert held(smaller) == ids
    assert smaller.remove(ids[7]) and held(smaller) == ids[:7] and lines == [] and smaller.dropped == 0
    ids.append(smaller.add("new", body_for(smaller, "new", 200)))  # 1400 + 200: 4 lines over, and 200 for it
    assert held(smaller) == ids[4:7] + ids[8:] and smaller.dropped == 4
    assert len(drop_lines(lines)) == 4 and all(ids[i] in lines[i] for i in range(4))


# -- the log line of a dropped message ------------------------------------------------------


def test_a_dropped_message_is_logged_with_its_subject_when_its_line_is_short(path):
    """Up to 128 bytes (one piece of a rewrite) a dropped message's line is read whole and
    its subject logged; a longer one is named by its id alone (subject '?'): the log never
    holds a long message."""
    box, lines = open_box(path, limit=1)
    short = box.add("short one", body_for(box, "short one", 128))
    long_ = box.add("long one", body_for(box, "long one", 129))
    box.add("last", "b")
    assert drop_lines(lines) == lines and len(lines) == 2
    assert short in lines[0] and lines[0].endswith("'short one'")
    assert long_ in lines[1] and lines[1].endswith("'?'") and "long one" not in lines[1]


def test_a_message_dropped_where_the_heap_cannot_decode_it_is_still_dropped_and_logged(path, monkeypatch):
    """Decoding the dropped line for its subject may run out of heap (MicroPython raises
    MemoryError): the new message is stored all the same, the old one dropped and logged by
    its id."""
    box, lines = open_box(path, limit=1)
    old = box.add("old", "b")

    def no_heap(data):
        raise MemoryError

    monkeypatch.setattr(json, "loads", no_heap)
    new = box.add("new", "b")
    monkeypatch.undo()
    assert held(box) == [new] and box.dropped == 1
    assert len(lines) == 1 and old in lines[0] and lines[0].endswith("'?'")


# -- the heap that must send it -------------------------------------------------------------


@pytest.mark.parametrize("client_open,reserve,named", [(False, outbox.SEND_RESERVE, "connection"),
                                                       (True, outbox.OPEN_RESERVE, "request")])
def test_a_heap_smaller_than_the_reserve_refuses_any_message_naming_a_limit_of_zero(path, monkeypatch, client_open,
                                                                                   reserve, named):
    """Less free heap than sending needs besides the message (the connection, or with the
    session's client open the request): every message is refused, the limit is 0 (app.notify
    reads it as the second argument), the message says what the reserve is for."""
    box, _ = open_box(path)
    monkeypatch.setattr(outbox.gc, "mem_free", lambda: reserve - 500, raising=False)
    with pytest.raises(ValueError) as refused:
        box.add("s", "", client_open)
    assert refused.value.args[1] == 0
    assert "over the limit of 0 (the %d bytes free, less %d for the %s)" % (reserve - 500, reserve, named) \
        in refused.value.args[0]
    assert held(box) == []


def test_add_keeps_the_connection_reserve_unless_told_the_client_is_open(path, monkeypatch):
    box, _ = open_box(path)
    monkeypatch.setattr(outbox.gc, "mem_free", lambda: outbox.SEND_RESERVE - 500, raising=False)
    with pytest.raises(ValueError, match="for the connection"):
        box.add("s", "b")
    assert held(box) == []
