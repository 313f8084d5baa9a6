# Taking a message in, app.queue() and notify()'s first step: checked against the rules
# of SNS (and so of the function, which publishes to it), then stored in the outbox, which
# is opened here (with the device's part of the message ids) on first use. Loaded for each
# call and forgotten after it (app._call): its code and messages are not held through the
# TLS handshake. `app` is the application module (app.py), passed in.
import sys

from mpaws import errors

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

_ID_ATTRIBUTE = const("mpaws-id")  # as app's, which a private const() keeps out of app's globals on MicroPython

# A subject of 1 to 100 (mpaws.sns.MAX_SUBJECT) printable ASCII characters and a body of
# at most this many characters (4 bytes of UTF-8 each at most: 260,000 bytes) pass SNS's
# rules whatever the id; see _plain().
_PLAIN_BODY_CHARS = 65000


def queue(app, subject, body):
    """app.queue(): see its docstring."""
    previous = app._collect_every()
    try:
        message_id = take(app, subject, body)
    finally:
        app._collect_every(previous)
    app.log("mpaws: queued %s: %s" % (message_id, subject))
    return message_id


def take(app, subject, body, sending=False):
    """Checks a message (check()) and stores it; returns its id. sending (notify()): None
    when it cannot be stored (a full flash, too little heap), with a log line: it is sent
    now, without a copy. Raises what check() and store() raise."""
    check(app, subject, body)
    if not sending:
        return store(app, subject, body)
    try:
        return store(app, subject, body, True)
    except MemoryError:  # first: the next clause's class is loaded on a failure, which takes heap
        app.note_error("too little heap to store the message in the outbox: sending without keeping a copy")
    except errors.OutboxError as e:
        app.note_error("%s: sending without keeping a copy" % e.message)
    return None


def _plain(subject, body):
    """Whether the message surely passes mpaws.sns.check: the usual message, recognised
    without loading mpaws.sns (1.4 KB of heap on the way to the TLS handshake)."""
    if not body or len(body) > _PLAIN_BODY_CHARS or not 0 < len(subject) <= 100 or subject.startswith(" "):
        return False
    from mpaws import sigv4  # loaded already, or soon: every mode signs, or its client imports it

    return sigv4.made_of(subject, sigv4.PRINTABLE)


def check(app, subject, body):
    """Raises errors.InvalidMessage for a message that could never be sent."""
    if not isinstance(subject, str) or not isinstance(body, str):
        raise errors.InvalidMessage("subject and body must be strings")
    # What SNS would refuse, and so the function (cloud/lambda_function.py checks SNS's
    # rules), is refused here, before the outbox: the message could never leave it. The id
    # does not exist yet, so the longest one is counted.
    function = app.config().function or app.config().api_url  # through the function: its rules
    if function and _plain(subject, body):
        return
    from mpaws import sns

    try:
        sns.check(body, subject, ((_ID_ATTRIBUTE, "-" * app.MAX_ID),))
    except ValueError as e:
        raise errors.InvalidMessage(str(e))
    finally:
        if function:  # through the function, sns is not needed to send: its code goes
            from mpaws import transient

            transient.forget("sns")


def store(app, subject, body, sending=False):
    """Stores a checked message in the outbox; returns its id. Raises errors.InvalidMessage
    for one over the outbox's size limit or too large for the free heap to send (sending:
    returns None for the latter, with a log line: it is sent now, without a copy),
    errors.OutboxError when the file can't be written."""
    try:
        # sending (notify()): the sending code is in the heap already (notify() loads it first),
        # as it is once the session's client exists.
        return app.outbox().add(subject, body, sending or app._lambda is not None or app._sns is not None
                                or app._api is not None)
    except ValueError as e:  # the outbox's own limits (bytes, the id; the heap that must send it: two arguments)
        if sending and len(e.args) > 1:
            app.note_error("%s: sending it now without keeping a copy (a restart could not send it)" % e.args[0])
            return None
        raise errors.InvalidMessage(e.args[0])
    except OSError as e:
        raise errors.OutboxError("cannot write the outbox (CONFIG_OUTBOX_PATH): %s: is the flash full?"
                                 % _os_error(e))


def _os_error(e):
    # An OSError without its file name (CPython's text quotes the path): its error number.
    return "%s %s" % (type(e).__name__, e.args[0] if e.args else "")


def device_id(app):
    """app.device_id(): CONFIG_DEVICE_ID, else the chip's id."""
    s = app.config()
    if s.device_id:
        return s.device_id
    try:
        import machine

        chip = machine.unique_id()
    except (ImportError, AttributeError):  # not a board
        return "host"
    return "esp32-" + "".join("%02x" % b for b in chip)


def open_outbox(app):
    """app.outbox()'s first call: the outbox opened, and the ids sent but not taken out
    (app._sent). An OSError is an errors.OutboxError."""
    s = app.config()
    try:
        from mpaws import outbox

        box = outbox.Outbox(s.outbox_path, s.outbox_limit, device_id(app), log=app.log, max_bytes=s.outbox_bytes)
    except OSError as e:
        raise errors.OutboxError("cannot read the outbox (CONFIG_OUTBOX_PATH): %s" % _os_error(e))
    if app._sent is not None:  # kept over reset(): what was sent stays sent
        return box, app._sent
    # On a board, the device loop's RTC memory (mpaws.board) keeps them over a soft reset.
    board = sys.modules.get("mpaws.board")
    return box, list(board.rtc_state().get("sent") or ()) if board else []
