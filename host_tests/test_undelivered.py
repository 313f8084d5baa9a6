"""What becomes of a message that was not delivered (mpaws.undelivered), in this process:
refused for good and taken out, kept for later, or sent but not taken out of a full flash
and remembered as sent, in RAM and in the RTC memory of the simulated board
(host_tests/sim), which a soft reset keeps. The app it is given is FlashApp: app.py's
state (its list of ids sent but not taken out, refused count, last error) with an outbox
whose file can't be rewritten while `full`. The same paths run through app.notify() and
flush() under CPython and MicroPython in test_failure_paths.py and test_faults.py."""
import json
import os
import sys

import pytest

from mpaws import errors, undelivered


@pytest.fixture
def rtc_board(monkeypatch):
    """The simulated board's `machine` (host_tests/sim): mpaws.board's RTC memory is its
    world.rtc_memory, which a soft reset keeps."""
    sim = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sim")
    monkeypatch.syspath_prepend(sim)
    for name in ("machine", "simboard"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import machine
    import simboard

    from mpaws import board

    monkeypatch.setitem(sys.modules, "machine", machine)
    monkeypatch.setitem(sys.modules, "simboard", simboard)
    monkeypatch.setattr(board, "_state", None)
    monkeypatch.setitem(sys.modules, "mpaws.board", board)
    yield board, simboard.world
    board._state = None


class FlashApp:
    """What mpaws.undelivered needs of app.py: its list of ids sent but not taken out, its
    error line, and an outbox whose file can't be rewritten while `full`."""

    def __init__(self, stored=2):
        self._sent = []
        self.full = True
        self.removed = []
        self.last_error = None
        self.notes = []  # every error line, in order
        self.refused = 0
        self.stored = stored  # messages in the outbox, for len()
        self.stuck = set()  # ids whose removal fails even when the flash is not full
        self.fault = OSError(28, "No space left on device")  # what a removal raises then

    def note_error(self, text):
        self.last_error = text
        self.notes.append(text)

    def outbox(self):
        return self

    def remove(self, message_id):
        if self.full or message_id in self.stuck:
            raise self.fault
        self.removed.append(message_id)
        return True

    def __len__(self):
        return self.stored


def test_ids_sent_but_not_taken_out_survive_a_soft_reset_in_the_rtc_memory(rtc_board):
    board, world = rtc_board
    app = FlashApp()
    ids = ["esp32.era-%d" % i for i in range(10)]
    for message_id in ids:
        error = undelivered.mark_sent(app, message_id, None, OSError(28, "No space left on device"))
        assert error.sent is True and message_id in error.message
    assert app._sent == ids  # in RAM: all of them
    # A soft reset: RAM is gone, the RTC memory is read again; the newest ids are there.
    board._state = None
    assert board.rtc_state().get("sent") == ids[-8:]  # the newest 8: 2 KB of RTC memory holds them
    assert json.loads(world.rtc_memory)["sent"] == ids[-8:]
    # The flash writable again: each is taken out (never sent again) and the record cleared.
    app.full = False
    assert undelivered.forget_sent(app) is None
    assert app.removed == ids and app._sent == []
    board._state = None
    assert board.rtc_state().get("sent") is None


# What a removal from the outbox raises when it cannot rewrite the file: a full flash, too
# little heap for the new file's lines.
REWRITE_FAULTS = [OSError(28, "No space left on device"), MemoryError("memory allocation failed, allocating 512 bytes")]
REWRITE_FAULT_IDS = ["full-flash", "no-heap"]


@pytest.mark.parametrize("fault", REWRITE_FAULTS, ids=REWRITE_FAULT_IDS)
def test_ids_still_not_taken_out_stay_recorded_and_flush_is_told(rtc_board, fault):
    board, world = rtc_board
    app = FlashApp()
    app.fault = fault
    undelivered.mark_sent(app, "esp32.era-1", None, OSError(28, "No space left on device"))
    stuck = undelivered.forget_sent(app)
    assert stuck is not None and not getattr(stuck, "sent", False)  # flush raises it after the rest
    assert "1 delivered message(s) still in the outbox" in stuck.message
    assert "(%s: %s)" % (type(fault).__name__, fault) in stuck.message
    assert app._sent == ["esp32.era-1"]
    board._state = None
    assert board.rtc_state().get("sent") == ["esp32.era-1"]


def test_a_record_too_large_for_the_rtc_memory_stays_in_ram(rtc_board):
    board, world = rtc_board
    board.rtc_state().set("crash", "x" * 3000)  # the RTC memory holds 2048 bytes: save() fails
    app = FlashApp()
    error = undelivered.mark_sent(app, "esp32.era-1", None, OSError(28, "No space left on device"))
    assert error.sent is True and app._sent == ["esp32.era-1"]
    assert "esp32.era-1" in app.last_error and "is the flash full?" in app.last_error


@pytest.mark.parametrize("fault", [OSError(5, "EIO"), MemoryError("memory allocation failed, allocating 96 bytes")],
                         ids=["io-error", "no-heap"])
def test_an_rtc_memory_that_cannot_be_written_leaves_the_ids_in_ram(rtc_board, monkeypatch, fault):
    board, world = rtc_board
    app = FlashApp()
    board.rtc_state().save()  # the RTC memory as the device loop left it

    def write(*data):
        if data:
            raise fault
        return world.rtc_memory

    monkeypatch.setattr(board.rtc_state().rtc, "memory", write)
    error = undelivered.mark_sent(app, "esp32.era-1", None, OSError(28, "No space left on device"))
    assert error.sent is True and app._sent == ["esp32.era-1"]
    assert "esp32.era-1" in app.last_error and "is the flash full?" in app.last_error
    app.full = False
    assert undelivered.forget_sent(app) is None and app._sent == [] and app.removed == ["esp32.era-1"]


def test_ids_are_kept_in_ram_where_there_is_no_board(monkeypatch):
    monkeypatch.delitem(sys.modules, "mpaws.board", raising=False)
    app = FlashApp()
    undelivered.mark_sent(app, "host.era-1", None, OSError(30, "Read-only file system"))
    undelivered.mark_sent(app, "host.era-1", None, OSError(30, "Read-only file system"))
    assert app._sent == ["host.era-1"]  # once
    app.full = False
    assert undelivered.forget_sent(app) is None and app._sent == [] and app.removed == ["host.era-1"]


# -- every failure as an AWSError -------------------------------------------------------------------


def test_failures_become_aws_errors():
    throttled = errors.Throttled("slow down", 429)
    assert undelivered.as_aws_error(throttled) is throttled
    oom = undelivered.as_aws_error(MemoryError())
    assert isinstance(oom, errors.OutOfMemory) and "bytes free after collecting" in oom.message
    broken = undelivered.as_aws_error(ValueError("bad reply"))
    assert isinstance(broken, errors.ProtocolError) and broken.retryable
    assert broken.message == "sending failed: ValueError: bad reply"


# -- notify(): refused for good, or kept --------------------------------------------------------------

def refused_error():
    """What the function answers for a message it can never publish (errors.refusal says so)."""
    return errors.FunctionError("function notify failed (Unhandled): subject: too long", "Unhandled", b"{}",
                                error_type="InvalidMessage", error_message="subject: too long")


def test_notify_of_a_refused_message_takes_it_out_and_says_so():
    app = FlashApp()
    app.full = False
    e = undelivered.notify_failed(app, refused_error(), "esp32.era-1", "subject")
    assert e.message.endswith("(not kept in the outbox: the message itself is refused, sending it again cannot "
                              "succeed)")
    assert app.removed == ["esp32.era-1"] and app.refused == 1
    assert app.notes == ["notify failed: FunctionError: %s" % e]  # one line: notify's error says it all


def test_each_sent_id_that_can_be_taken_out_is_even_when_one_cannot(rtc_board):
    app = FlashApp()
    for message_id in ("esp32.era-1", "esp32.era-2"):
        undelivered.mark_sent(app, message_id, None, OSError(28, "No space left on device"))
    app.full = False
    app.stuck = {"esp32.era-1"}
    stuck = undelivered.forget_sent(app)
    assert stuck is not None and app.removed == ["esp32.era-2"] and app._sent == ["esp32.era-1"]


@pytest.mark.parametrize("fault", REWRITE_FAULTS, ids=REWRITE_FAULT_IDS)
def test_notify_of_a_refused_message_the_flash_cannot_drop_says_it_is_kept(fault):
    app = FlashApp()
    app.fault = fault
    e = undelivered.notify_failed(app, refused_error(), "esp32.era-1", "subject")
    assert "(kept in the outbox as esp32.era-1: app.flush() sends it)" in e.message
    assert app.removed == [] and app.refused == 0


def test_notify_of_a_refused_message_without_a_copy_counts_it():
    app = FlashApp()
    e = undelivered.notify_failed(app, refused_error(), None, "subject")
    assert "not kept in the outbox" in e.message and app.refused == 1


@pytest.mark.parametrize("message_id", ["esp32.era-1", None])
def test_notify_that_may_pass_later_keeps_the_message(message_id):
    app = FlashApp()
    app.full = False
    e = undelivered.notify_failed(app, errors.Throttled("Rate exceeded", 429), message_id, "subject")
    kept = "(kept in the outbox as esp32.era-1: app.flush() sends it)"
    assert (kept in e.message) is (message_id is not None)
    assert app.removed == [] and app.refused == 0
    assert app.last_error.startswith("notify failed: Throttled: Rate exceeded")


# -- flush(): a refused message leaves with a log line, another failure stops it ----------------------


def test_flush_drops_a_refused_message_and_goes_on():
    app = FlashApp()
    app.full = False
    assert undelivered.flush_failed(app, refused_error(), ("esp32.era-1", "subject", "body"), 0) is None
    assert app.removed == ["esp32.era-1"] and app.refused == 1
    assert app.last_error == "dropped esp32.era-1 'subject': refused by the function: InvalidMessage: subject: too long"


def test_flush_stops_at_a_failure_that_may_pass_later():
    app = FlashApp(stored=3)
    e = undelivered.flush_failed(app, errors.ServiceError("down", 503), ("esp32.era-2", "subject", "body"), 1)
    assert isinstance(e, errors.ServiceError) and e.message == "down (flush: 1 sent, 3 still in the outbox)"
    assert app.last_error == "flush stopped at esp32.era-2: ServiceError: %s" % e
    assert app.removed == [] and app.refused == 0


def test_flush_stops_at_a_refused_message_the_flash_cannot_drop():
    app = FlashApp(stored=1)
    e = undelivered.flush_failed(app, refused_error(), ("esp32.era-1", "subject", "body"), 0)
    assert e is not None and "(flush: 0 sent, 1 still in the outbox)" in e.message
    assert app.refused == 0
