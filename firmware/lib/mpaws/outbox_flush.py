# Sending what the outbox holds, oldest first: app.flush(), which the device loop calls
# to send what button presses and sensor alerts queued, and a user calls from the REPL.
# Loaded on the first flush: app.notify() alone never needs it. `app` is the application
# module (app.py), passed in.
from mpaws import errors


def _next(app, box):
    """The oldest message not yet sent, or None."""
    for message in box.messages():
        if message[0] not in app._sent:
            return message
    return None


def flush(app, feed=None):
    """app.flush(): see its docstring."""
    try:
        return _flush(app, feed)
    except errors.AWSError:
        raise
    except Exception as e:  # noqa: BLE001 -- MemoryError, a broken outbox file: an AWSError
        e = app._handled(lambda: app._undelivered().as_aws_error(e))
        app.note_error("flush failed: %s: %s" % (type(e).__name__, e))
        raise e


def _flush(app, feed):
    box = app.outbox()
    sent = 0
    online = False
    stuck = app._handled(lambda: app._undelivered().forget_sent(app)) if app._sent else None
    while True:
        message = _next(app, box)
        if message is None:
            if stuck is not None:
                app.note_error(stuck.message)
                raise stuck  # the caller backs off: the flash may be writable later
            return sent
        if feed is not None:
            feed()
        c = None
        try:
            if not online:
                app._online(feed)
                online = True
            c = app._client()
            c.feed = feed
            app._send(message[0], message[1], message[2], True)
        except Exception as e:  # noqa: BLE001
            if getattr(e, "sent", False):
                raise  # sent, not taken out (errors.OutboxError): logged; not sent again
            e = app._handled(lambda: app._undelivered().flush_failed(app, e, message, sent))
            if e is None:
                continue  # refused for good, taken out: the messages after it are not held back
            raise e
        finally:
            if c is not None:
                c.feed = None
        sent += 1
