"""The outbox (firmware/lib/mpaws/outbox.py): notifications kept on flash until AWS
accepted them. Order, ids, the bound, and power cuts: at every byte of a write (both
runtimes, two kinds of file system), a file cut short at every byte, and processes
killed at random moments (50 times per runtime); what the outbox holds in the heap between
uses on the device."""
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import FIRMWARE_LIB
from mpaws import outbox

DRIVERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "drivers")
MESSAGE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
TEXTS = [
    ("plain", "text"),
    ("Température \"haute\" 🌡", "ligne 1\nligne 2\r\n\ttabulée \\ fin"),
    ("", ""),
    ("control \x00\x01\x1f", "日本語 " * 50),
]


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "outbox.txt")


def open_box(path, limit=50, prefix="dev"):
    lines = []
    return outbox.Outbox(path, limit, prefix, log=lines.append), lines


def stored(box):
    return [(m[1], m[2]) for m in box.messages()]


def test_messages_kept_in_order_and_removed_by_id(path):
    box, _ = open_box(path)
    ids = [box.add(s, b) for s, b in TEXTS]
    assert stored(box) == TEXTS and len(box) == len(TEXTS)
    assert box.oldest() == (ids[0],) + TEXTS[0]
    assert box.remove(ids[1]) and not box.remove(ids[1])
    assert stored(box) == [TEXTS[0]] + TEXTS[2:]
    again, lines = open_box(path)  # a restart
    assert stored(again) == [TEXTS[0]] + TEXTS[2:] and len(again) == 3 and lines == []
    for message_id in ids[:1] + ids[2:]:
        again.remove(message_id)
    assert again.oldest() is None and len(again) == 0 and stored(open_box(path)[0]) == []


def test_ids_are_valid_and_never_reused(path):
    box, _ = open_box(path, prefix="esp32-240ac4123456")
    ids = [box.add("s", "b") for _ in range(5)]
    for message_id in ids[:4]:
        box.remove(message_id)
    again, _ = open_box(path, prefix="esp32-240ac4123456")  # the counter is kept in the file
    ids += [again.add("s", "b") for _ in range(3)]
    os.remove(path)  # even a lost file does not bring old ids back (a new era)
    ids += [open_box(path, prefix="esp32-240ac4123456")[0].add("s", "b")]
    assert len(set(ids)) == len(ids)
    assert all(MESSAGE_ID.match(i) and i.startswith("esp32-240ac4123456.") for i in ids), ids
    numbers = [int(i.rsplit("-", 1)[1]) for i in ids]
    assert numbers[:8] == list(range(1, 9))  # counted on across the restart


def test_a_prefix_too_long_for_an_id_is_refused(path):
    box, _ = open_box(path, prefix="x" * 60)
    with pytest.raises(ValueError, match="message id"):
        box.add("s", "b")


def test_bound_drops_the_oldest_and_says_so(path):
    box, lines = open_box(path, limit=3)
    ids = [box.add("subject %d" % i, "body %d" % i) for i in range(5)]
    assert [m[0] for m in box.messages()] == ids[2:] and len(box) == 3 and box.dropped == 2
    assert len(lines) == 2
    for line, (message_id, n) in zip(lines, ((ids[0], 0), (ids[1], 1))):
        assert "dropped" in line and message_id in line and "subject %d" % n in line
        assert "CONFIG_OUTBOX_LIMIT" in line


@pytest.mark.parametrize("client_open", [False, True])
def test_a_message_is_stored_only_when_the_free_heap_can_send_it(path, monkeypatch, client_open):
    """What sending costs (the line read back, 2 bytes per byte of the decoded subject and
    body, the reserve for the connection or, with the session's client open, the request)
    decides; the refusal names the limit and stores nothing. The heap is MicroPython's
    gc.mem_free(), given here."""
    box, _ = open_box(path)
    reserve = outbox.OPEN_RESERVE if client_open else outbox.SEND_RESERVE
    subject, body = "report", 'a "quoted" line\n' * 200 + "été"
    line = json.dumps([box.prefix + "." + box.era + "-1", subject, body], ensure_ascii=False) + "\n"
    cost = len(line.encode()) + 2 * len((subject + body).encode())
    collected = []
    monkeypatch.setattr(outbox.gc, "collect", lambda: collected.append(1), raising=False)
    monkeypatch.setattr(outbox.gc, "mem_free", lambda: reserve + cost - 1, raising=False)
    refusal = "takes %d bytes of heap .* over the limit of %d" % (cost, cost - 1)
    with pytest.raises(ValueError, match=refusal) as refused:
        box.add(subject, body, client_open)
    assert refused.value.args[1] == cost - 1  # the limit: what tells app.notify() to send it without a copy
    assert stored(box) == [] and collected  # the free heap after a collection
    monkeypatch.setattr(outbox.gc, "mem_free", lambda: reserve + cost, raising=False)
    box.add(subject, body, client_open)
    assert stored(box) == [(subject, body)]


def test_the_free_heap_is_what_sending_finds_without_the_file_code(path, monkeypatch):
    """The file's code (mpaws.outbox_file) is let go before a message is sent: the free heap
    a message is judged by is measured before that code loads, not beside it."""
    from mpaws import transient

    box, _ = open_box(path)
    events = []
    forget = transient.forget
    monkeypatch.setattr(transient, "forget", lambda *names: events.append(names) or forget(*names))
    monkeypatch.setattr(outbox.gc, "collect", lambda: None, raising=False)
    monkeypatch.setattr(outbox.gc, "mem_free", lambda: events.append("measured") or 10 ** 6, raising=False)
    box.add("s", "b")
    assert events == ["measured", ("outbox_file",)] and stored(box) == [("s", "b")]


def test_stale_temporary_file_is_discarded(path):
    box, _ = open_box(path)
    box.add("kept", "b")
    with open(path + ".tmp", "wb") as f:
        f.write(b"mpaws-outbox 1 abcd 7\n[\"dev.abcd-5\", \"half")
    again, lines = open_box(path)
    assert stored(again) == [("kept", "b")] and not os.path.exists(path + ".tmp")
    assert any("unfinished write" in line for line in lines), lines


def test_complete_temporary_file_is_taken_when_the_file_is_gone(path):
    """A cut between removing the old file and renaming the new one (FAT)."""
    box, _ = open_box(path)
    box.add("a", "1")
    box.add("b", "2")
    os.rename(path, path + ".tmp")
    again, lines = open_box(path)
    assert stored(again) == [("a", "1"), ("b", "2")] and os.path.exists(path)
    assert any("recovered the outbox from its temporary copy" in line for line in lines), lines


def test_file_cut_short_at_every_byte(path):
    """A file system that lost the end of the file: every complete message line is kept,
    nothing else, and the next id is new."""
    box, _ = open_box(path)
    ids = [box.add(s, b) for s, b in TEXTS]
    with open(path, "rb") as f:
        data = f.read()
    line_ends = [i + 1 for i, c in enumerate(data) if c == 0x0A]
    for cut in range(len(data)):
        with open(path, "wb") as f:
            f.write(data[:cut])
        again, lines = open_box(path)
        whole = sum(1 for end in line_ends[1:len(TEXTS) + 1] if end <= cut)  # complete message lines
        assert stored(again) == TEXTS[:whole], cut
        assert len(again) == whole
        new_id = again.add("next", "n")
        assert new_id not in ids, (cut, new_id)
        assert any("cut short" in line and "kept %d" % whole in line for line in lines), (cut, lines)
        assert stored(open_box(path)[0]) == TEXTS[:whole] + [("next", "n")]
        ids.append(new_id)


# -- power cuts in the middle of a write, on both runtimes ------------------------------


def _powercut_cases(executable, tmp_path):
    proc = subprocess.run([executable, os.path.join(DRIVERS, "outbox_powercut.py"), FIRMWARE_LIB, str(tmp_path)],
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    lines = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    return lines[0], lines[1:]


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_power_cut_at_every_point_of_a_write(runtime, tmp_path, request):
    executable = sys.executable if runtime == "cpython" else request.getfixturevalue("micropython")
    head, cases = _powercut_cases(executable, tmp_path)
    base = [tuple(t) for t in head["base"]]
    new = tuple(head["new"])
    seen = {}
    for case in cases:
        ids = case["ids"]
        recovered = [tuple(m) for m in case["recovered"]]
        before = [(i,) + t for i, t in zip(ids, base)]
        if case["op"] == "recover":  # the damaged file's complete lines, however often cut
            assert recovered == before[:2], case
            seen.setdefault(("any", "recover"), set()).add(case["fs"])
            continue
        if case["op"] == "add":
            after = before + [(ids[0].rsplit("-", 1)[0] + "-4",) + new]
        else:
            after = before[1:]
        assert recovered in (before, after), case  # the old state or the new one, nothing lost
        if case["finished"]:
            assert recovered == after, case
        assert case["next_id"] not in ids and MESSAGE_ID.match(case["next_id"]), case
        if case["op"] == "add" and recovered == after:
            assert case["next_id"] != after[-1][0], case
        seen.setdefault((case["fs"], case["op"]), set()).add("after" if recovered == after else "before")
    assert len(cases) >= 50
    # Every kind of write was cut both before and after its commit point.
    expected = {(fs, op): {"before", "after"} for fs in ("posix", "fat") for op in ("add", "remove")}
    expected[("any", "recover")] = {"posix", "fat"}
    assert seen == expected


def _apply(model, i):
    """Operation i of outbox_churn.py on a list of subjects; returns whether it added."""
    if i % 3 == 2 or len(model) >= 8:
        if model:
            model.pop(0)
        return False
    model.append("m%d" % i)
    return True


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_killed_at_random_moments(runtime, tmp_path, request):
    """The process is killed (SIGKILL) at a random moment, 50 times; each restart finds
    the outbox as it was before or after the operation the kill interrupted."""
    executable = sys.executable if runtime == "cpython" else request.getfixturevalue("micropython")
    args = [executable] + (["-u"] if runtime == "cpython" else [])
    path = str(tmp_path / "outbox.txt")
    rng = random.Random(6)
    model = []  # the subjects the operations so far leave, oldest first
    next_op = 0
    added_ids = []
    committed_when_cut = 0
    for run in range(51):
        proc = subprocess.Popen(args + [os.path.join(DRIVERS, "outbox_churn.py"), FIRMWARE_LIB, path],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready = proc.stdout.readline().decode()
        assert ready.startswith("ready "), (ready, proc.stderr.read())
        recovered = json.loads(ready[6:])
        if recovered != model:  # the operation the last kill cut had been committed
            _apply(model, next_op)
            assert recovered == model, (recovered, model, next_op)
            committed_when_cut += 1
            next_op += 1
        if run == 50:
            proc.communicate(b"stop\n")
            break
        proc.stdin.write(b"go %d\n" % next_op)
        proc.stdin.flush()
        time.sleep(rng.uniform(0.0, 0.03))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        for line in out.decode().splitlines():
            if line.startswith("done "):
                _, i, message_id = line.split()
                assert int(i) == next_op, line
                if _apply(model, next_op):
                    added_ids.append(message_id)
                next_op += 1
    assert len(added_ids) == len(set(added_ids)) and next_op > 50, (len(added_ids), next_op, committed_when_cut)


# What the outbox holds between two uses, on the device: its state and its module (the
# Outbox, with json_pieces for a message's line), and the names its code interned. The code
# that writes and reads the file (mpaws.outbox_file, 5 KB) and opens it
# (mpaws.outbox_recovery) is loaded for each use and let go: it is not in the heap while a
# message is on the wire. Measured: 6,720 bytes (10,784 when the file's code was held).
HELD_BETWEEN_USES = 6720 + 512
_HELD_PROBE = """\
import gc
import sys
gc.collect()
start = gc.mem_alloc()
from mpaws import outbox


def uses(box):
    ids = [box.add("subject %d" % i, "body") for i in range(3)]
    box.remove(ids[0])
    messages = box.messages()
    first = next(messages)
    box.add("while reading", "body")  # the file's code loaded again beside the generator's
    return [first[0]] + [m[0] for m in messages] == ids[1:]


box = outbox.Outbox("outbox.txt", 10, "dev")
read = uses(box)
gc.collect()
print("HELD", gc.mem_alloc() - start, read, len(box))
print("MODULES", " ".join(sorted(n for n in sys.modules if n.startswith("mpaws."))))
"""


def test_between_uses_the_outbox_holds_its_state_not_the_file_code(micropython, mpy_cross, tmp_path):
    from device import mpy_build

    # A short relative path, as a board's (/lib/mpaws/outbox.mpy): each imported .mpy interns
    # its path, so that the figure does not move with the temporary folder's name.
    os.symlink(mpy_build(mpy_cross, tmp_path / "firmware"), tmp_path / "fw")
    (tmp_path / "probe.py").write_text(_HELD_PROBE)
    proc = subprocess.run([micropython, "probe.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, MICROPYPATH="fw/lib"))
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    assert proc.returncode == 0 and "HELD" in lines, proc.stdout + proc.stderr
    held, read_back, count = lines["HELD"].split()
    assert lines["MODULES"] == "mpaws.json_pieces mpaws.outbox mpaws.transient", lines
    assert int(held) <= HELD_BETWEEN_USES, "the outbox holds %s bytes between uses" % held
    assert read_back == "True" and count == "3"


def test_app_knows_the_longest_id(monkeypatch):
    """app.MAX_ID (counted in the message check, without loading the outbox's code) is the
    outbox's own."""
    from conftest import FIRMWARE

    monkeypatch.syspath_prepend(FIRMWARE)
    import app
    from mpaws import outbox_file

    assert app.MAX_ID == outbox_file.MAX_ID


@pytest.mark.parametrize("damaged", [False, True])
def test_a_line_too_large_for_the_heap_is_set_aside_and_kept_never_dropped(path, monkeypatch, damaged):
    """A message line longer than the heap can now read (here: gc.mem_free() says 4000
    bytes, half of which a line may take) is never read whole: messages() sets it aside (box.aside, a log line) and yields
    the others; a damaged file is rebuilt with it copied in pieces, byte for byte; once the
    heap allows, it is read and sent like any other."""
    import gc

    box, _ = open_box(path)
    box.max_bytes = 1048576
    ids = [box.add("small 1", "b"), box.add("big", "x" * 6000), box.add("small 2", "b")]
    with open(path, "rb") as f:
        big_line = [line for line in f.read().split(b"\n") if line.startswith(b'["%s"' % ids[1].encode())][0]
    if damaged:
        with open(path, "rb") as f:
            data = bytearray(f.read())
        data[data.index(b" ", data.index(b" ") + 1) + 1] = ord("/")  # the era: not one
        with open(path, "wb") as f:
            f.write(data)
    monkeypatch.setattr(gc, "mem_free", lambda: 4000, raising=False)  # as MicroPython's
    box, lines = open_box(path)
    assert len(box) == 3 and box.aside == []
    assert [m[0] for m in box.messages()] == [ids[0], ids[2]] and box.aside == [ids[1]]
    assert [m[0] for m in box.messages()] == [ids[0], ids[2]] and box.aside == [ids[1]]
    assert sum("set aside" in line for line in lines) == 1, lines  # said once
    with open(path, "rb") as f:
        assert f.read().count(big_line + b"\n") == 1  # kept, intact
    monkeypatch.setattr(gc, "mem_free", lambda: 200000, raising=False)
    assert [m[1] for m in box.messages()] == ["small 1", "big", "small 2"]
    box.remove(ids[1])
    assert box.aside == [] and len(box) == 2
