# What becomes of a message that was not delivered, or not known to be: refused for good
# (errors.refusal) and taken out, kept in the outbox for later, or sent but not taken out
# (a full or read-only flash) and remembered as sent. Every failure leaves as an
# errors.AWSError. Loaded on the first failure only, as the code of the path a device
# that only succeeds never takes; `app` is the application module (app.py), passed in.
import sys

from mpaws import errors

MAX_SENT_IN_RTC = 8  # of the ids sent but not taken out, the newest kept in the RTC memory (2 KB on an ESP32)


def as_aws_error(e):
    """e as an errors.AWSError: a MemoryError is OutOfMemory; anything else not from
    mpaws (a ValueError or OSError from a broken reply or a port's quirk) a ProtocolError,
    which keeps the message and may be retried."""
    if isinstance(e, errors.AWSError):
        return e
    if isinstance(e, MemoryError):
        import gc

        gc.collect()  # what the failed step allocated is garbage now: room for the error
        free = gc.mem_free() if hasattr(gc, "mem_free") else "?"
        return errors.OutOfMemory("not enough free heap (%s bytes free after collecting): free RAM or send a "
                                  "shorter message" % free)
    return errors.ProtocolError("sending failed: %s: %s" % (type(e).__name__, e))


def _rtc():
    # The RTC memory, where the device loop keeps its state (mpaws.board): on a board, the
    # ids survive a soft reset; from the REPL or on a computer they are in RAM only.
    board = sys.modules.get("mpaws.board")
    return None if board is None else board.rtc_state()


def _save_sent(sent):
    state = _rtc()
    if state is not None:
        try:
            state.set("sent", sent[-MAX_SENT_IN_RTC:] or None)
            state.save()
        except (OSError, ValueError, MemoryError):  # RAM only, then
            pass


def mark_sent(app, message_id, result, e):
    """AWS accepted message_id but the outbox could not let go of it (e): remembered, never
    sent again. Returns the errors.OutboxError to raise, with the delivery's result."""
    if message_id not in app._sent:  # app._send() puts it there first (in RAM, whatever this costs)
        app._sent.append(message_id)
    _save_sent(app._sent)
    error = errors.OutboxError("sent %s, but could not take it out of the outbox (%s: %s): it will not be sent "
                               "again; is the flash full? (app.status())" % (message_id, type(e).__name__, e))
    error.result = result
    error.sent = True  # flush() stops at it (a full flash: the next message would fare no better)
    app.note_error(error.message)
    return error


def forget_sent(app):
    """Takes the messages AWS accepted out of the outbox, now that it may be writable.
    Returns an errors.OutboxError when some could not be, or None."""
    failure = None
    for message_id in list(app._sent):
        try:
            app.outbox().remove(message_id)
        except (OSError, MemoryError) as e:
            failure = failure or errors.OutboxError("%d delivered message(s) still in the outbox, which cannot be "
                                                    "rewritten (%s: %s): is the flash full?"
                                                    % (len(app._sent), type(e).__name__, e))
            continue
        app._sent.remove(message_id)
    if failure is None:
        _save_sent(app._sent)
    return failure


def refused(app, message_id, subject, reason, say):
    """Takes a message refused for good out of the outbox; say: whether to log it as
    dropped (notify()'s error says so instead). Returns whether it is out."""
    if message_id is not None:
        try:
            app.outbox().remove(message_id)
        except (OSError, MemoryError) as e:
            app.note_error("%s is refused for good (%s) but could not be taken out of the outbox: %s"
                           % (message_id, reason, e))
            return False
    app.refused += 1
    if say:
        app.note_error("dropped %s %r: %s" % (message_id, subject, reason))
    return True


def notify_failed(app, e, message_id, subject):
    """The errors.AWSError notify() raises for e: the message refused for good (and taken
    out) or kept, as its text says."""
    e = as_aws_error(e)
    reason = errors.refusal(e)
    if reason is not None and refused(app, message_id, subject, reason, False):
        e.message += " (not kept in the outbox: the message itself is refused, sending it again cannot succeed)"
    elif message_id is not None:
        e.message += " (kept in the outbox as %s: app.flush() sends it)" % message_id
    app.note_error("notify failed: %s: %s" % (type(e).__name__, e))
    return e


def flush_failed(app, e, message, sent):
    """None when the message e failed for is refused for good (taken out: flush goes on),
    else the errors.AWSError that stops flush() (the message stays)."""
    e = as_aws_error(e)
    reason = errors.refusal(e)
    if reason is not None and refused(app, message[0], message[1], reason, True):
        return None
    e.message += " (flush: %d sent, %d still in the outbox)" % (sent, len(app.outbox()))
    app.note_error("flush stopped at %s: %s: %s" % (message[0], type(e).__name__, e))
    return e
