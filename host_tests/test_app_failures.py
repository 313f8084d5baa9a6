"""app.notify(), queue(), flush(), status() and reset() in this process, under CPython: what a
user gets on each of the application's failure paths, against a real TLS server on
127.0.0.1 that answers as a test scripts (scripted_server.py). The faults are real where
this process can make them (a reply, an outbox file cut short by a power cut, a full
flash: a small tmpfs, root only, as CI runs) and injected where it cannot: too little heap (a
MemoryError where loading a module or writing the message would run out of it, or a
small free-heap figure for the outbox's check). Each case asserts what the server
received (requests per message id), what the outbox holds and what the user reads (the
error, last_error, status(), the log).

The same paths run in subprocesses, under MicroPython from the .mpy build too, in
test_failure_paths.py, test_faults.py and test_outbox_policy.py; these are the fast ones
`make mutate` runs for app.py (tools/maintainer/mutate.py)."""
import json
import os
import sys
import time
import types

import pytest

import mpaws
from conftest import FIRMWARE
from device import default_config
from mpaws import errors, outbox, outbox_file
from scripted_server import ScriptedServer, ok_reply, reply
from test_faults import MAX_ATTEMPTS, device_cert, fill, small_flash  # noqa: F401

UNAVAILABLE = reply(503, "Service Unavailable", [("Content-Type", "application/json")], b'{"message": "down"}')


def function_error(error_type, message):
    """Lambda's 200 for a function that raised error_type(message)."""
    return reply(200, "OK", [("Content-Type", "application/json"), ("X-Amz-Function-Error", "Unhandled")],
                 json.dumps({"errorType": error_type, "errorMessage": message}).encode())


FUNCTION_REFUSAL = function_error("InvalidMessage", "body: refused by the function")
API_STAGE = "/prod"  # CONFIG_AWS_API_URL's path: the stage notify() POSTs under
# SNS's 262,144 bytes of message and attributes, less the id attribute with the longest id
# (it does not exist when the message is checked): the longest body a message may have.
ROOM = 262144 - len("mpaws-id") - len("String") - outbox_file.MAX_ID
API_URL = "https://localhost:%d" + API_STAGE
# The ways to send: through the Lambda function, to SNS itself, through API Gateway.
MODES = {"lambda": {}, "direct-sns": {"CONFIG_AWS_LAMBDA_FUNCTION": None},
         "api": {"CONFIG_AWS_API_URL": API_URL, "CONFIG_AWS_LAMBDA_FUNCTION": None}}


def mode_keys(mode, server):
    """The config keys of a mode (MODES) for the server."""
    return dict((k, v % server.port if k == "CONFIG_AWS_API_URL" else v) for k, v in MODES[mode].items())


@pytest.fixture(scope="module")
def listening():
    with ScriptedServer() as s:
        yield s


@pytest.fixture
def server(listening):
    """The module's server as new: normal replies, nothing recorded (starting one per test
    took a quarter of the run: each mutant of `make mutate` runs them all)."""
    with listening._lock:
        listening._plan, listening._default = [], ("normal", {})
        listening._faults.clear()
        del listening.requests[:]
        listening.connections = listening.handshakes = 0
    yield listening


class Session:
    """The app module (imported anew from firmware/app.py), its log lines and its server."""

    def __init__(self, app, lines, server, path):
        self.app = app
        self.lines = lines
        self.server = server
        self.path = path  # the outbox file

    @property
    def log(self):
        return "\n".join(self.lines)

    def fast(self):
        """Retries after a few milliseconds (the client's knobs, as the device tests' FAST)."""
        c = self.app._client()
        c.base_delay_ms, c.max_delay_ms = 5, 20

    def stored(self):
        """[(id, subject, body)] of the outbox file, read by a new Outbox (as after a restart)."""
        if not os.path.exists(self.path):
            return []
        return [tuple(m) for m in outbox.Outbox(self.path, 50, "host", max_bytes=1048576).messages()]

    def ids(self):
        return [m[0] for m in self.stored()]


def configure(server, directory, **keys):
    """A config module for the server (its CA, host:port, function "notify"); keys override."""
    values = dict(default_config(), CONFIG_AWS_HOST="localhost:%d" % server.port, CONFIG_TLS_CA=server.ca_der,
                  CONFIG_TIMEOUT=3, CONFIG_OUTBOX_PATH=os.path.join(str(directory), "outbox.txt"),
                  CONFIG_AWS_LAMBDA_FUNCTION="notify")
    values.update(keys)
    module = types.ModuleType("config")
    for key, value in values.items():
        setattr(module, key, value)
    return module


@pytest.fixture
def start(server, tmp_path, monkeypatch):
    """start(**config keys) -> a Session: app.py imported anew (its state as at boot), with a
    config.py of those keys. A second call is a restart (a new import, the outbox file kept)."""
    monkeypatch.syspath_prepend(FIRMWARE)
    # No device loop, no RTC memory unless a test loads it; SNS's rules not loaded yet.
    for name in ("app", "mpaws.board", "mpaws.sns"):
        monkeypatch.delitem(sys.modules, name, raising=False)
        if name.startswith("mpaws."):  # `from mpaws import x` takes the package's attribute first
            monkeypatch.delattr(mpaws, name[6:], raising=False)
    sessions = []

    def make(**keys):
        config = configure(server, tmp_path, **keys)
        monkeypatch.setitem(sys.modules, "config", config)
        if sessions:
            sessions[-1].app.reset()
        sys.modules.pop("app", None)
        import app

        lines = []
        monkeypatch.setattr(app, "log", lines.append)
        sessions.append(Session(app, lines, server, config.CONFIG_OUTBOX_PATH))
        return sessions[-1]

    yield make
    if sessions:
        sessions[-1].app.reset()
    sys.modules.pop("app", None)


@pytest.fixture
def no_heap_for(monkeypatch):
    """no_heap_for("mpaws.x"): loading that module runs out of heap (a MemoryError), as on a
    board whose heap is too full or too fragmented for its code."""

    class OutOfHeap:
        def __init__(self, names):
            self.names = names

        def find_spec(self, name, path=None, target=None):
            if name in self.names:
                raise MemoryError("memory allocation failed, allocating %d bytes" % 4096)
            return None

    finder = OutOfHeap(set())
    monkeypatch.setattr(sys, "meta_path", [finder] + sys.meta_path)

    def refuse(*names):
        for name in names:
            monkeypatch.delitem(sys.modules, name, raising=False)
            if hasattr(mpaws, name.split(".")[-1]):
                monkeypatch.delattr(mpaws, name.split(".")[-1])
            finder.names.add(name)

    return refuse


def wait_until(condition, timeout=3.0):
    """Whether condition() came true within timeout seconds (the server's threads see a
    close a moment after it)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def notify_kept(s, data, error, attempts=MAX_ATTEMPTS, **script):
    """notify() with every attempt answered by data: raises `error`, the message is kept
    (sent `attempts` times: by default each attempt of the client); returns (its id, the
    error)."""
    s.server.script(data, **script)
    s.fast()
    with pytest.raises(error) as caught:
        s.app.notify("kept", "b")
    [message_id] = s.ids()
    assert "(kept in the outbox as %s: app.flush() sends it)" % message_id in caught.value.message
    assert s.server.deliveries() == {message_id: attempts}
    return message_id, caught.value


def refuse_heap(monkeypatch, method):
    """The outbox's `method` ("add", "remove") runs out of heap while it writes the file."""
    def out_of_heap(*args, **kwargs):
        raise MemoryError("memory allocation failed, allocating 1024 bytes")

    monkeypatch.setattr(outbox.Outbox, method, out_of_heap)


# -- delivered -------------------------------------------------------------------------------------


def test_notify_delivers_once_and_the_outbox_is_empty(start, server):
    s = start()
    result = s.app.notify("door", "open")
    assert result.status == 200 and json.loads(result.payload)["ok"] is True
    [request] = server.requests
    assert request.event == dict(request.event, topic=default_config()["CONFIG_AWS_SNS_TOPIC_ARN"], subject="door",
                                 body="open")
    assert request.id.startswith("host.") and server.deliveries() == {request.id: 1}
    assert s.stored() == [] and s.app.last_error is None
    assert "mpaws: notified %s (200: " % request.id in s.log, s.log


@pytest.mark.parametrize("keys, machine, prefix", [
    ({"CONFIG_DEVICE_ID": "door-1"}, None, "door-1."),
    ({}, types.SimpleNamespace(unique_id=lambda: b"\x24\x0a\xc4\x12\x34\x56"), "esp32-240ac4123456."),
    ({}, types.SimpleNamespace(), "host."),  # a port whose machine has no unique_id
], ids=["config", "chip", "no-chip-id"])
def test_message_ids_name_the_device(start, server, monkeypatch, keys, machine, prefix):
    if machine is not None:
        monkeypatch.setitem(sys.modules, "machine", machine)
    s = start(**keys)
    message_id = s.app.queue("s", "b")
    assert message_id.startswith(prefix) and s.ids() == [message_id]
    assert s.app.status()["device"] == prefix[:-1]
    assert "mpaws.network_errors" not in sys.modules and "mpaws.status" not in sys.modules  # not held after


@pytest.mark.parametrize("mode", sorted(MODES))
def test_notify_after_notify_reuses_the_connection(start, server, mode):
    """In each mode the session's client (its TLS connection) is made once: the second
    notify neither opens another connection nor leaves the first one open."""
    s = start(**mode_keys(mode, server))
    s.app.notify("one", "b")
    client = s.app._client()
    s.app.notify("two", "b")
    assert s.app._client() is client
    assert len(server.requests) == 2 and len({r.id for r in server.requests}) == 2
    if mode != "direct-sns":
        assert [r.event["subject"] for r in server.requests] == ["one", "two"]
    assert server.handshakes == 1 and s.stored() == []


# -- kept: sent by a later flush ----------------------------------------------------------------------


def test_notify_that_fails_keeps_the_message_and_flush_sends_it(start, server):
    s = start()
    message_id, _ = notify_kept(s, UNAVAILABLE, errors.ServiceError)
    assert s.app.last_error.startswith("notify failed: ServiceError: ") and s.app.refused == 0
    server.script(ok_reply())
    assert s.app.flush() == 1
    assert s.stored() == [] and server.deliveries() == {message_id: MAX_ATTEMPTS + 1}
    assert s.app.flush() == 0 and len(server.requests) == MAX_ATTEMPTS + 1


def test_flush_stops_at_a_failure_and_keeps_every_message(start, server):
    s = start()
    ids = [s.app.queue("m%d" % i, "b") for i in range(3)]
    assert server.requests == [] and "mpaws: queued %s: m0" % ids[0] in s.log
    server.script(UNAVAILABLE)
    s.fast()
    with pytest.raises(errors.ServiceError) as caught:
        s.app.flush()
    assert "(flush: 0 sent, 3 still in the outbox)" in caught.value.message
    assert server.deliveries() == {ids[0]: MAX_ATTEMPTS} and s.ids() == ids
    server.script(ok_reply())
    assert s.app.flush() == 3 and s.stored() == []


def test_a_restart_sends_what_the_last_session_kept(start, server):
    s = start()
    message_id, _ = notify_kept(s, UNAVAILABLE, errors.ServiceError)
    server.script(ok_reply())
    s = start()
    assert s.app.status()["outbox"] == 1
    assert s.app.flush() == 1 and server.deliveries()[message_id] == MAX_ATTEMPTS + 1


# -- refused for good: not kept, does not hold back the others ---------------------------------------


def test_notify_refused_by_the_function_is_not_kept_and_says_so(start, server):
    s = start()
    old = s.app.queue("old", "b")
    server.script(FUNCTION_REFUSAL, count=1)
    with pytest.raises(errors.FunctionError) as caught:
        s.app.notify("refused", "b")
    assert caught.value.message.endswith("(not kept in the outbox: the message itself is refused, sending it again "
                                         "cannot succeed)"), caught.value.message
    assert "kept in the outbox as" not in caught.value.message
    assert s.ids() == [old] and s.app.refused == 1 and s.app.status()["refused"] == 1
    assert len(server.requests) == 1  # never retried


def test_function_error_that_is_not_a_refusal_keeps_the_message(start, server):
    s = start()
    server.script(function_error("TypeError", "'NoneType' object is not subscriptable"))  # a broken deploy
    s.fast()
    with pytest.raises(errors.FunctionError) as caught:
        s.app.notify("kept", "b")
    [message_id] = s.ids()
    assert "(kept in the outbox as %s" % message_id in caught.value.message and s.app.refused == 0
    assert server.deliveries() == {message_id: 1}  # not retried: the function ran


def test_flush_drops_a_refused_message_and_sends_the_next(start, server):
    s = start()
    ids = [s.app.queue("m%d" % i, "b") for i in range(2)]
    server.script(FUNCTION_REFUSAL, count=1)
    assert s.app.flush() == 1
    assert s.stored() == [] and server.deliveries() == {ids[0]: 1, ids[1]: 1}
    assert s.app.refused == 1 and s.app.last_error.startswith("dropped %s 'm0': refused by the function" % ids[0])


def test_direct_sns_message_stored_unchecked_is_refused_before_sending(start, server):
    """A message SNS would refuse, stored by a firmware that did not check it: dropped
    with a log line, never sent; the message after it is delivered."""
    s = start(CONFIG_AWS_LAMBDA_FUNCTION=None)
    bad = outbox.Outbox(s.path, 50, "old", max_bytes=1048576).add("x" * 101, "b")
    good = s.app.queue("good", "b")
    assert s.app.flush() == 1
    assert server.deliveries() == {good: 1} and s.stored() == []
    assert s.app.refused == 1 and s.app.last_error.startswith("dropped %s '%s': refused before sending: subject"
                                                              % (bad, "x" * 101)), s.app.last_error


# -- refused before it is stored ------------------------------------------------------------------


@pytest.mark.parametrize("function", ["notify", None], ids=["lambda", "direct-sns"])
@pytest.mark.parametrize("call", ["notify", "queue"])
@pytest.mark.parametrize("subject, body, words", [
    (5, "b", "subject and body must be strings"),
    ("s", b"bytes", "subject and body must be strings"),
    ("x" * 101, "b", "subject"),
    ("", "b", "subject"),
    (" leading space", "b", "subject"),
    ("T\xfcr offen", "b", "subject"),
    ("s", "", "body"),
    ("s", "x" * (ROOM + 1), "body"),
], ids=["subject-not-str", "body-not-str", "subject-101", "empty-subject", "leading-space", "not-ascii", "empty-body",
        "body-a-byte-too-long"])
def test_a_message_sns_would_refuse_is_neither_stored_nor_sent(start, server, function, call, subject, body, words):
    s = start(CONFIG_AWS_LAMBDA_FUNCTION=function)
    with pytest.raises(errors.InvalidMessage) as caught:
        getattr(s.app, call)(subject, body)
    assert caught.value.message.startswith(words), caught.value.message
    assert s.stored() == [] and server.requests == []


@pytest.mark.parametrize("function", ["notify", None], ids=["lambda", "direct-sns"])
@pytest.mark.parametrize("subject, body", [("x" * 100, "b"), ("s", "\U0001f6aa" * 65000), ("s", "x" * 65001),
                                           ("s", "x" * ROOM)],
                         ids=["subject-100", "body-65000-emoji", "body-65001", "body-of-the-most-bytes"])
def test_the_longest_message_sns_accepts_is_sent(start, server, function, subject, body):
    s = start(CONFIG_AWS_LAMBDA_FUNCTION=function)
    s.app.notify(subject, body)
    [request] = server.requests
    assert (request.event["subject"], request.event["body"]) == (subject, body) and s.stored() == []
    assert "mpaws.sns" not in sys.modules or function is None  # the check's code goes in Lambda mode


@pytest.mark.parametrize("subject, body", [("x", "b"), ("x" * 100, "b"), ("~ Door open!", "x" * 65000)],
                         ids=["subject-1", "subject-100", "body-65000"])
def test_a_usual_message_is_sent_without_loading_snss_rules(start, server, no_heap_for, subject, body):
    """In Lambda mode a message that surely passes SNS's rules is recognised without
    mpaws.sns (1.4 KB of heap on the way to the TLS handshake): sent even where there is no
    heap left for that code."""
    s = start()
    no_heap_for("mpaws.sns")
    assert s.app.notify(subject, body).status == 200
    assert [(r.event["subject"], r.event["body"]) for r in server.requests] == [(subject, body)]


def test_off_a_board_notify_and_flush_load_no_wifi_code(start, server, no_heap_for):
    """On a computer (no `network` module) the host's network is used: nothing of the
    WiFi or its clock is loaded."""
    s = start()
    no_heap_for("mpaws.wifi")
    s.app.queue("queued", "b")
    assert s.app.notify("s", "b").status == 200 and s.app.flush() == 1
    assert len(server.requests) == 2 and s.stored() == []


def test_a_message_over_the_outbox_byte_limit_is_refused_naming_it(start, server):
    s = start(CONFIG_OUTBOX_BYTES=1024)
    old = s.app.queue("old", "b")
    for call in (s.app.queue, s.app.notify):
        with pytest.raises(errors.InvalidMessage) as caught:
            call("big", "x" * 1024)
        assert "CONFIG_OUTBOX_BYTES" in caught.value.message
    assert s.ids() == [old] and server.requests == []


# -- too little heap ------------------------------------------------------------------------------


def test_notify_too_large_to_send_after_a_restart_is_sent_without_a_copy(start, server, monkeypatch):
    monkeypatch.setattr(outbox, "_free_heap", lambda: outbox.SEND_RESERVE + 5000)  # a board's heap
    s = start()
    old = s.app.queue("old", "b")
    result = s.app.notify("report", "r" * 12000)
    assert result.status == 200
    [request] = server.requests
    assert request.event["body"] == "r" * 12000 and request.id is None  # no id: no copy to match it to
    assert s.ids() == [old]
    assert "sending it now without keeping a copy" in s.app.last_error and "over the limit of" in s.app.last_error
    with pytest.raises(errors.InvalidMessage) as caught:  # queue() cannot send it now: refused
        s.app.queue("report", "r" * 12000)
    assert "over the limit of" in caught.value.message and s.ids() == [old]


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("opened", [False, True], ids=["before-connecting", "connected"])
def test_the_heap_a_message_needs_counts_the_open_connection(start, server, monkeypatch, opened, mode):
    monkeypatch.setattr(outbox, "_free_heap", lambda: outbox.SEND_RESERVE + 5000)
    s = start(**mode_keys(mode, server))
    if opened:
        s.app.notify("first", "b")
    with pytest.raises(errors.InvalidMessage) as caught:
        s.app.queue("report", "r" * 30000)
    assert ("less %d for the %s" % ((outbox.OPEN_RESERVE, "request") if opened else
                                    (outbox.SEND_RESERVE, "connection"))) in caught.value.message, caught.value


def test_notify_without_heap_to_store_sends_without_a_copy(start, server, monkeypatch):
    s = start()
    refuse_heap(monkeypatch, "add")
    assert s.app.notify("s", "b").status == 200
    assert [r.id for r in server.requests] == [None] and s.stored() == []
    assert s.app.last_error == "too little heap to store the message in the outbox: sending without keeping a copy"


@pytest.mark.parametrize("module, call, kept", [
    ("mpaws.outbox", "queue", False), ("mpaws.outbox", "notify", False), ("mpaws.outbox", "status", False),
    ("mpaws.outbox_flush", "flush", False), ("mpaws.status", "status", False), ("mpaws.sns", "queue-unusual", False),
    ("mpaws.json_pieces", "notify", True),  # stored, then the request could not be made
])
def test_out_of_heap_is_out_of_memory_never_a_memory_error(start, server, no_heap_for, module, call, kept):
    """Loading the code of the call fails: errors.OutOfMemory, nothing sent, a queued
    message kept (and the new one, once stored)."""
    s = start()
    s.app.queue("old", "b")
    s.app.reset()
    no_heap_for(module)
    with pytest.raises(errors.OutOfMemory):
        if call == "queue-unusual":  # a body over what is recognised without SNS's rules
            s.app.queue("s", "x" * 65001)
        elif call in ("queue", "notify"):
            getattr(s.app, call)("new", "b")
        else:
            getattr(s.app, call)()
    assert [m[1] for m in s.stored()] == (["old", "new"] if kept else ["old"])
    assert server.requests == []


def test_no_heap_for_the_failure_code_is_out_of_memory_and_the_message_is_kept(start, server, no_heap_for):
    s = start()
    server.script(UNAVAILABLE)
    s.fast()
    no_heap_for("mpaws.undelivered")
    with pytest.raises(errors.OutOfMemory) as caught:
        s.app.notify("kept", "b")
    assert caught.value.message == "too little heap to handle a failure: a message the outbox stored stays there"
    [message_id] = s.ids()
    assert server.deliveries() == {message_id: MAX_ATTEMPTS}


def test_status_lets_its_code_go(start, server):
    s = start()
    s.app.queue("waiting", "b")
    info = s.app.status()
    assert info["outbox"] == 1 and info["refused"] == 0 and info["sent_not_removed"] == 0
    assert info["last_error"] is None and "mpaws.status" not in sys.modules
    assert "outbox: 1" in s.lines


# -- the outbox cannot be read or written -----------------------------------------------------------


def test_an_outbox_that_cannot_be_repaired_on_a_full_flash_is_an_outbox_error_naming_the_key(start, server):
    """A power cut left the outbox file cut short, and the flash is full: it can't be
    rebuilt. Every call says so, naming the key; nothing is sent."""
    with small_flash() as flash:
        s = start(CONFIG_OUTBOX_PATH=os.path.join(flash, "outbox.txt"))
        s.app.queue("m", "b")
        with open(s.path, "r+b") as f:
            f.truncate(os.path.getsize(s.path) - 3)
        fill(flash)
        s = start(CONFIG_OUTBOX_PATH=s.path)
        for call in (lambda: s.app.queue("s", "b"), s.app.flush, s.app.status):
            with pytest.raises(errors.OutboxError) as caught:
                call()
            assert caught.value.message == "cannot read the outbox (CONFIG_OUTBOX_PATH): OSError 28"
        assert server.requests == []
        assert s.app.notify("sent", "b").status == 200  # without a copy
        assert [r.id for r in server.requests] == [None]
        assert s.app.last_error == ("cannot read the outbox (CONFIG_OUTBOX_PATH): OSError 28: sending without "
                                    "keeping a copy")


def test_notify_on_a_full_flash_sends_without_keeping_a_copy(start, server):
    with small_flash() as flash:
        fill(flash)
        s = start(CONFIG_OUTBOX_PATH=os.path.join(flash, "outbox.txt"))
        assert s.app.notify("full", "flash").status == 200
        assert [r.event["subject"] for r in server.requests] == ["full"] and server.requests[0].id is None
        assert s.app.last_error.endswith(": is the flash full?: sending without keeping a copy"), s.app.last_error
        assert s.app.last_error.startswith("cannot write the outbox (CONFIG_OUTBOX_PATH): OSError 28")
        with pytest.raises(errors.OutboxError) as caught:
            s.app.queue("full", "flash")
        assert "is the flash full?" in caught.value.message and list(s.app.outbox().messages()) == []
        assert len(server.requests) == 1


def test_sent_but_not_taken_out_is_never_sent_again_and_leaves_once_the_flash_has_room(start, server):
    with small_flash() as flash:
        s = start(CONFIG_OUTBOX_PATH=os.path.join(flash, "outbox.txt"))
        ids = [s.app.queue("m%d" % i, "b") for i in range(2)]
        fill(flash)
        with pytest.raises(errors.OutboxError) as caught:
            s.app.flush()
        assert caught.value.sent is True and caught.value.result.status == 200
        assert "sent %s, but could not take it out" % ids[0] in caught.value.message
        with pytest.raises(errors.OutboxError):
            s.app.flush()
        assert server.deliveries() == {ids[0]: 1, ids[1]: 1} and s.ids() == ids
        assert s.app.status()["sent_not_removed"] == 2
        s.app.reset()  # what was sent stays sent
        with pytest.raises(errors.OutboxError) as caught:
            s.app.flush()
        assert "2 delivered message(s) still in the outbox" in caught.value.message
        assert server.deliveries() == {ids[0]: 1, ids[1]: 1}
        os.remove(os.path.join(flash, "filler"))
        assert s.app.flush() == 0 and s.stored() == [] and s.app.status()["sent_not_removed"] == 0
        assert server.deliveries() == {ids[0]: 1, ids[1]: 1}


def test_notify_sent_but_not_taken_out_returns_the_reply(start, server, monkeypatch):
    s = start()
    refuse_heap(monkeypatch, "remove")
    result = s.app.notify("s", "b")
    assert result.status == 200
    [message_id] = s.ids()
    assert s.app._sent == [message_id] and s.app.status()["sent_not_removed"] == 1
    assert "sent %s, but could not take it out" % message_id in s.app.last_error
    s.app.notify("s", "b")  # no second copy of the id in the record
    assert s.app.status()["sent_not_removed"] == 2 and len(set(s.app._sent)) == 2


def test_sent_but_not_taken_out_is_not_sent_again_even_without_heap_for_the_failure_code(start, server,
                                                                                        monkeypatch, no_heap_for):
    s = start()
    message_id = s.app.queue("m", "b")
    refuse_heap(monkeypatch, "remove")
    no_heap_for("mpaws.undelivered")
    for _ in range(2):
        with pytest.raises(errors.OutOfMemory):
            s.app.flush()
    assert server.deliveries() == {message_id: 1} and s.ids() == [message_id]
    assert s.app.status()["sent_not_removed"] == 1


def test_the_rtc_memory_keeps_the_sent_ids_over_a_soft_reset(start, server, monkeypatch):
    """On a board the device loop's RTC memory (mpaws.board) keeps the ids sent but not
    taken out: after a soft reset they are not sent again."""
    from mpaws import board

    monkeypatch.setitem(sys.modules, "mpaws.board", board)
    monkeypatch.setattr(board, "_state", None)
    s = start()
    ids = [s.app.queue("m%d" % i, "b") for i in range(2)]
    remove = outbox.Outbox.remove
    refuse_heap(monkeypatch, "remove")
    with pytest.raises(errors.OutboxError):
        s.app.flush()
    assert board.rtc_state().get("sent") == [ids[0]]
    monkeypatch.setattr(outbox.Outbox, "remove", remove)
    s = start()  # a soft reset: app.py anew, the RTC memory (board's state) kept
    assert s.app.status()["sent_not_removed"] == 1
    assert s.app.flush() == 1
    assert server.deliveries() == {ids[0]: 1, ids[1]: 1} and s.stored() == []
    assert not board.rtc_state().get("sent")


# -- a reply that could not be read -----------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 299])
def test_a_2xx_whose_reply_is_too_large_was_delivered_and_is_not_sent_again(start, server, status):
    s = start()
    server.script(reply(status, "OK", [("X-H%d" % i, "v") for i in range(64)], b"{}"), count=1)
    assert s.app.notify("s", "b") is None
    assert "accepted; its reply could not be read: ResponseTooLarge: " in s.log, s.log
    assert s.stored() == [] and list(server.deliveries().values()) == [1]
    assert s.app.flush() == 0 and len(server.requests) == 1


@pytest.mark.parametrize("status", [199, 300, 503])
@pytest.mark.parametrize("large", ["headers", "body"])
def test_a_reply_that_is_not_2xx_and_too_large_keeps_the_message(start, server, status, large):
    headers, body = ([("X-H%d" % i, "v") for i in range(64)], b"{}") if large == "headers" else ([], b"x" * 300000)
    # A body too large to read is not retried (it would be as large again); a 1xx is.
    attempts = 1 if large == "body" and status >= 300 else MAX_ATTEMPTS
    notify_kept(start(), reply(status, "Whatever", headers, body), errors.AWSError, attempts)


def test_a_2xx_reply_cut_short_proves_nothing_and_the_message_is_kept(start, server):
    notify_kept(start(), reply(200, "OK", [("Content-Type", "application/json"), ("Content-Length", "100")],
                               b'{"ok"', length=False), errors.NetworkError, then="close")


def test_the_status_of_the_last_reply_is_not_taken_for_the_next(start, server, no_heap_for):
    """A notify delivered (200), then one that fails before any reply: kept, not taken for
    delivered because of the first one's status."""
    s = start()
    s.app.notify("first", "b")
    no_heap_for("mpaws.json_pieces")
    with pytest.raises(errors.OutOfMemory):
        s.app.notify("second", "b")
    assert [m[1] for m in s.stored()] == ["second"] and len(server.requests) == 1


# -- certificate auth ----------------------------------------------------------------------------------


def certificate_keys(device_cert, port):
    """The config keys of certificate auth, its credentials endpoint on localhost:port."""
    return dict(CONFIG_AWS_ACCESS_KEY=None, CONFIG_AWS_SECRET_KEY=None, CONFIG_AWS_THING_NAME="mpaws-thing-1",
                CONFIG_AWS_CREDENTIALS_ENDPOINT="localhost:%d" % port, CONFIG_AWS_ROLE_ALIAS="mpaws-role-alias",
                CONFIG_TLS_CERT=device_cert["cert"], CONFIG_TLS_KEY=device_cert["key"])


@pytest.mark.parametrize("mode", ["lambda", "api"])
def test_certificate_auth_fetches_the_credentials_once_for_the_session(start, server, device_cert, mode):
    keys = certificate_keys(device_cert, server.port)
    if mode == "api":
        keys.update(mode_keys("api", server))
    s = start(**keys)
    s.app.notify("one", "b")
    s.app.notify("two", "b")
    fetches = [r for r in server.requests if r.credentials]
    sent = [r for r in server.requests if not r.credentials]
    assert len(fetches) == 1 and [r.event["subject"] for r in sent] == ["one", "two"]
    for request in sent:
        assert "Credential=ASIAHOSTILETEMPORARY/" in request.header("authorization")
        assert request.header("x-amz-security-token") == "hostile-session-token"
    assert s.stored() == []


@pytest.mark.parametrize("port", [442, 444])  # either side of the default, 443: no listener on loopback
def test_certificate_auth_connects_to_the_credentials_port_configured(start, server, device_cert, port):
    s = start(**certificate_keys(device_cert, port))
    with pytest.raises(errors.NetworkError) as caught:
        s.app.notify("kept", "b")
    [message_id] = s.ids()
    assert caught.value.message.startswith("connection to localhost:%d refused" % port), caught.value.message
    assert "(kept in the outbox as %s" % message_id in caught.value.message and server.requests == []


# -- the other modes, reset() -------------------------------------------------------------------------


def test_direct_sns_publishes_with_the_id_attribute(start, server):
    s = start(CONFIG_AWS_LAMBDA_FUNCTION=None)
    message_id = s.app.notify("door", "open")
    [request] = server.requests
    assert request.sns and isinstance(message_id, str) and request.id is not None
    assert "SNS message %s" % message_id in s.log and s.stored() == []


@pytest.mark.parametrize("key", [None, "an-api-key-of-twenty-chars"], ids=["signed", "api-key"])
def test_api_gateway_mode_posts_the_payload_to_the_route(start, server, key, monkeypatch):
    s = start(CONFIG_AWS_API_KEY=key, **mode_keys("api", server))
    monkeypatch.delitem(sys.modules, "mpaws.sns", raising=False)
    result = s.app.notify("door", "open")
    assert "mpaws.sns" not in sys.modules  # direct SNS's code: not loaded, nor held, through API Gateway
    assert result.status == 200
    [request] = server.requests
    assert request.path == API_STAGE + "/notify" and request.event["subject"] == "door"
    if key:
        assert request.header("x-api-key") == key and request.header("authorization") is None
    else:
        assert "/execute-api/aws4_request" in request.header("authorization")
    assert s.stored() == [] and "mpaws: notified %s (200: " % request.id in s.log


@pytest.mark.parametrize("mode", sorted(MODES))
def test_reset_closes_the_connection_and_reads_the_config_again(start, server, mode):
    assert wait_until(lambda: not server._live), "the connections of the tests before are still open"
    s = start(**mode_keys(mode, server))
    s.app.notify("one", "b")
    held = s.app._client()  # as a board's heap holds it until a collection: closed by reset(), not by CPython
    sys.modules["config"].CONFIG_DEVICE_ID = "renamed"
    s.app.reset()
    assert wait_until(lambda: not server._live), "the connection is still open after reset()"
    assert held.connection.sock is None
    s.app.notify("two", "b")
    assert server.handshakes == 2
    assert [r.id.split(".")[0] for r in server.requests] == ["host", "renamed"]
