# The device application's entry points, as called from the REPL or main.py:
#
#     mpremote exec "import app; app.notify('subject', 'body')"
#     mpremote exec "import app; app.status()"      (WiFi, time, outbox, last error, heap)
#     mpremote exec "import app; app.flush()"       (send what the outbox holds)
#
# notify() sends the JSON payload {"topic": ..., "subject": ..., "body": ..., "id": ...} to
# the configured Lambda function, which publishes it to the SNS topic. With
# CONFIG_AWS_LAMBDA_FUNCTION = None (direct SNS: `tools/cloud.py deploy --direct-sns`) it
# publishes to the topic itself, with the id as the message attribute "mpaws-id", as the
# function sends it. In both modes the function's rules (SNS's) are checked here first: a
# message that can never be sent is refused before it is stored. Every notification goes
# through the outbox (mpaws.outbox) first and leaves it once AWS accepted it; the id lets
# the receiver drop a message it already got (delivery is at-least-once). A message AWS or
# the function refuses for good (errors.refusal: its content, never the network, the
# config or AWS's state) leaves it too, with a log line, so that it does not hold back
# the messages after it.
#
# API Gateway mode (CONFIG_AWS_API_URL, `tools/cloud.py deploy --api`): notify() POSTs the
# same payload to <url>/notify, signed for execute-api or with the API key CONFIG_AWS_API_KEY,
# through the outbox as above, and returns the reply (status, body: the function's JSON).
#
# Called from the REPL, where main.py has not run, notify() and flush() connect the WiFi
# first when it is down (and set the clock by NTP when it is not set).
import gc
import sys

from mpaws import errors, settings

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

# The rest of the library (the outbox, the client with its transport and signer, Lambda's
# module, the clock) is imported where it is first used: `import app` alone (main.py
# before anything is sent, a user's own code at the REPL) holds ~11 KB of heap, not ~54.

_ID_ATTRIBUTE = const("mpaws-id")  # the SNS message attribute with the message id (cloud/lambda_function.py's)
MAX_ID = 64  # mpaws.outbox_file.MAX_ID: the longest message id (a test keeps them equal)

_settings = None
_lambda = None  # the Lambda client (an mpaws.client.Client; mpaws.session)
_sns = None  # direct SNS: the SNS client (mpaws.client.Client)
_temporary = None  # certificate auth: the credentials.CertificateCredentials (mpaws.session)
_api = None  # API Gateway mode (CONFIG_AWS_API_URL): its mpaws.client.Client
_API_ROUTE = const("/notify")  # what notify() POSTs to, under CONFIG_AWS_API_URL (the stage's URL)
_JSON = const((("content-type", "application/json"),))
_outbox = None
_board = None  # whether there is a WiFi interface (the `network` module); looked up once
ticks = None  # the clock WiFi waits on: board.Clock() when None (the simulated board sets its own)
last_error = None  # the last failure (sending, WiFi, NTP, sensor), for status()
refused = 0  # messages refused for good (errors.refusal) since start, not kept; for status()
_sent = None  # ids AWS accepted that are still in the outbox (it could not be rewritten)
_last = None  # the client of the message being sent (or last sent): its session is set up


def log(message):
    print(message)


def note_error(text):
    """Logs a failure and keeps it for status()."""
    global last_error
    last_error = text
    log("mpaws: " + text)


def config():
    """The validated configuration (loaded once)."""
    global _settings
    if _settings is None:
        _settings = settings.load()
    return _settings


def device_id():
    """The device's part of every message id: CONFIG_DEVICE_ID, else the chip's id."""
    return _call("intake", "device_id")


def outbox():
    """The outbox (opened, and recovered after a power cut, once). Raises errors.OutboxError
    when the file cannot be read, errors.OutOfMemory: never a raw error."""
    global _outbox, _sent
    if _outbox is None:
        _outbox, _sent = _call("intake", "open_outbox")
    return _outbox


def _call(module, step, *args):
    # mpaws.<module>.<step>(app, *args): its code loaded for the call and forgotten after
    # it; a MemoryError is errors.OutOfMemory.
    from mpaws import transient

    try:
        return getattr(getattr(__import__("mpaws." + module), module), step)(sys.modules[__name__], *args)
    except MemoryError as e:
        raise _as_aws_error(e)
    finally:
        transient.forget(module)


def _undelivered():
    # The failure path only. The failed step's garbage goes first, and the code that made
    # the exception (an AWS error reply's, a socket error's): this code then loads into the
    # holes they leave, not into what is left of a fragmented heap.
    from mpaws import transient

    transient.forget("failures", "network_errors")
    gc.collect()
    from mpaws import undelivered

    return undelivered


def _as_aws_error(e):
    # In a function of its own: a lambda over `e` in the caller would make `e` a cell,
    # allocated on every call of the caller (outbox() runs on every turn of the device loop).
    return _handled(lambda: _undelivered().as_aws_error(e))


# While notify(), queue() and flush() work, the heap is collected every _COLLECT_EVERY bytes
# allocated, not only when it is full: garbage is freed before new objects are placed
# above it, and what stays fills the holes it leaves. The session's modules, connection and
# messages then sit closer together: one notify fits in 4 to 6 KB less heap (unix port,
# median of 3 layouts: Lambda 78.1 KB instead of 82.9, direct SNS 77.6 instead of 83.7).
# The cost: a collection per 2 KB allocated, about 15 in a notify. One that starts before
# the session has sent (its first: its modules load, its client is made, with certificate
# auth its credentials are fetched over a TLS session of their own) with less than _ROOMY
# bytes free collects every 256 bytes: about 600 collections (150 KB allocated; 13 ms more
# on the unix port), for 1.5 KB less heap with a device certificate (make bench: 64,912
# bytes instead of 66,377), where the fetch's and the Lambda connection's TLS contexts
# each want 3 KB in one piece. With more free (a board after boot has about 106 KB; the
# first notify needs about 50 KB on the unix port), every 2 KB: a board waking from deep
# sleep to send does not pay for room it has. The program's own setting (gc.threshold())
# is back when they return.
_COLLECT_EVERY = const(2048)
_COLLECT_EVERY_FIRST = const(256)
_ROOMY = const(65536)


def _collect_every(nbytes=-2):
    # gc.threshold(nbytes) (-2, a value gc.threshold() never returns: _COLLECT_EVERY, or
    # _COLLECT_EVERY_FIRST before the session has sent, in a tight heap; None: unchanged);
    # returns the setting it replaces, None on CPython.
    try:
        previous = gc.threshold()
    except AttributeError:  # CPython
        return None
    if nbytes == -2:
        nbytes = _COLLECT_EVERY if _last is not None or gc.mem_free() >= _ROOMY else _COLLECT_EVERY_FIRST
    if nbytes is not None:
        gc.threshold(nbytes)
    return previous


def _handled(handle):
    """The errors.AWSError that handle() makes of a failure (or its None), or
    errors.OutOfMemory when loading the failure's code took more heap than there is: never
    a raw MemoryError, and a message the outbox stored stays there."""
    try:
        e = handle()
        # After a failure is handled, its code goes (mpaws.transient): the next attempt, or
        # the next message, has that heap again.
        from mpaws import transient

        transient.forget("undelivered", "failures", "network_errors")
        return e
    except MemoryError:
        gc.collect()
        return errors.OutOfMemory("too little heap to handle a failure: a message the outbox stored stays there")


def _client():
    """The session's mpaws.client.Client: Lambda's, SNS's in direct-SNS mode, or API
    Gateway's (CONFIG_AWS_API_URL); made by mpaws.session on first use."""
    c = _lambda or _api or _sns
    if c is None:
        if config().thing_name is not None:  # certificate auth: the credentials are fetched
            # first, their TLS session with none of mpaws.session's code in the heap
            _call("session", "credentials").ensure()
        c = _call("session", "start")
    return c


def payload(subject, body, message_id=None):
    """The payload as pieces (hashed and sent without being joined)."""
    pairs = [("topic", config().topic_arn), ("subject", subject), ("body", body)]
    if message_id is not None:
        pairs.append(("id", message_id))
    from mpaws import json_pieces

    return json_pieces.json_object(pairs)


def _deliver(message_id, subject, body):
    """Sends one message (Invoke, or Publish in direct-SNS mode); returns (result, what
    AWS said, for the log)."""
    global _last
    _last = None
    c = _client()
    c.connection.reply_status = None  # what _accepted() reads: this request's, none yet
    _last = c
    s = config()
    if s.api_url:  # through API Gateway to the same function: the same JSON, POSTed
        result = c.request("POST", s.api_base + _API_ROUTE, None, _JSON, payload(subject, body, message_id))
        return result, "%d: %s" % (result.status, errors.preview(result.body))
    if _lambda is not None:  # the session's Lambda client (CONFIG_AWS_LAMBDA_FUNCTION)
        # The Invoke awslambda.Lambda.invoke() sends. Lambda's code is not in the heap while
        # the request is signed and sent, when the heap is fullest (2 KB less heap for a
        # notify): the reply's (mpaws.lambda_reply) is loaded for it and let go of after it.
        response = c.request("POST", s.function_path, None, _JSON, payload(subject, body, message_id))
        from mpaws import lambda_reply, transient

        try:
            result = lambda_reply.invoked(s.function, response)
        finally:
            transient.forget("lambda_reply")
        return result, "%d: %s" % (result.status, errors.preview(result.payload))
    from mpaws import sns

    attributes = None if message_id is None else ((_ID_ATTRIBUTE, message_id),)
    try:
        sns.check(body, subject, attributes)
    except ValueError as e:  # stored by a firmware that did not check it: never sendable
        raise errors.InvalidMessage(str(e))
    result = sns.publish(c, s.topic_arn, body, subject, attributes)
    return result, "SNS message %s" % result


def _accepted(e):
    # Whether AWS accepted the request that failed with e: its reply's status line said
    # 2xx (not a function error), and then the body was too large for the heap, or could
    # not be decoded. A broken reply (a NetworkError: cut short, malformed) proves nothing:
    # the message is kept and sent again.
    status = None if _last is None else _last.connection.reply_status
    return (status is not None and 200 <= status < 300 and not isinstance(e, errors.NetworkError)
            and not isinstance(e, errors.FunctionError))


def _send(message_id, subject, body, strict=False):
    """Sends one message, then takes it out of the outbox; returns what AWS answered.
    Raises an errors.AWSError; strict: also errors.OutboxError (its `sent` is True) when it
    was sent but could not be taken out (it is remembered as sent all the same)."""
    try:
        result, said = _deliver(message_id, subject, body)
    except Exception as e:  # noqa: BLE001 -- every failure becomes an AWSError, or a delivery
        if not _accepted(e):
            raise _as_aws_error(e)
        result, said = None, "accepted; its reply could not be read: %s: %s" % (type(e).__name__, e)
    log("mpaws: notified %s (%s)" % (message_id, said))
    if message_id is not None:
        try:
            outbox().remove(message_id)
        except (OSError, MemoryError) as e:  # delivered: never sent again (bounded duplicates)
            if message_id not in _sent:
                _sent.append(message_id)  # first, in RAM, whatever the rest of this costs
            error = _handled(lambda: _undelivered().mark_sent(sys.modules[__name__], message_id, result, e))
            if strict:
                raise error
    return result


def _online(feed=None):
    """On a board whose WiFi is down (a call from the REPL, main.py not running): connects
    it, and sets the clock (mpaws.wifi.online). Raises errors.NetworkError when the WiFi
    does not connect. Nothing on a computer."""
    global _board
    if _board is None:
        try:
            import network  # noqa: F401

            _board = True
        except ImportError:  # a computer: its own network and clock
            _board = False
    if _board:
        from mpaws import wifi

        wifi.online(sys.modules[__name__], feed)


def queue(subject, body):
    """Stores a notification in the outbox, for the main loop (or flush()) to send; returns
    its id. Raises errors.InvalidMessage as notify() does, errors.OutboxError when the
    outbox can't be written (nothing stored), errors.OutOfMemory."""
    return _call("intake", "queue", subject, body)


def notify(subject, body):
    """Sends a notification. Through the Lambda function, returns its InvokeResult; in
    direct-SNS mode (CONFIG_AWS_LAMBDA_FUNCTION = None), the SNS MessageId (str); None when
    AWS accepted it but its reply could not be read. Every failure is an errors.AWSError:
    errors.InvalidMessage for a subject or body SNS (and so the function) would never
    accept, or one over the outbox's size limit (nothing stored); errors.ConfigError for a
    bad config.py; errors.FunctionError when the function failed; errors.NetworkError when
    the WiFi does not connect; errors.OutOfMemory; another errors.AWSError when AWS could
    not be reached or said no. The message then stays in the outbox, and flush() (or the
    main loop) sends it later; unless it is refused for good (errors.refusal: the function
    or AWS rejected its content): then the error says it was not kept. A message that
    cannot be stored (a full flash), or that the free heap could not send again after a
    restart, is sent without a copy, with a log line."""
    previous = _collect_every()
    try:
        return _notify(subject, body)
    finally:
        _collect_every(previous)


def _notify(subject, body):
    try:
        # The code every send holds (the outbox, the client with its transport and signer)
        # first, at the bottom of the heap: the config checks' code, loaded next and freed
        # after, then leaves one hole above it rather than holes between them. The outbox's
        # store limit counts on it being loaded (mpaws.outbox.OPEN_RESERVE).
        from mpaws import client, outbox  # noqa: F401
        s = config()
        if s.api_url is None and not s.function:
            # Direct SNS: mpaws.sns, which sending holds, loads now, into the hole the config
            # check left. Loaded by the message check (mpaws.intake) instead, it would stay
            # between that step's code and be an island in the free heap when the TLS
            # context's 3 KB block is allocated (measured: 1 KB more heap for a notify).
            from mpaws import sns  # noqa: F401
        message_id = _call("intake", "take", subject, body, True)
    except MemoryError as e:
        raise _as_aws_error(e)
    try:
        _online()
        return _send(message_id, subject, body)
    except Exception as e:  # noqa: BLE001 -- the message is kept or refused, and an AWSError raised
        raise _handled(lambda: _undelivered().notify_failed(sys.modules[__name__], e, message_id, subject))


def flush(feed=None):
    """Sends what the outbox holds, oldest first; returns how many were sent. Connects the
    WiFi first when it is down (on a board). A message refused for good (errors.refusal)
    is taken out with a log line ("dropped <id> '<subject>': refused by ..."), and the next
    is sent. Stops at any other failure and raises it as an errors.AWSError (the message
    stays, for the next flush), and at a message sent that could not be taken out
    (errors.OutboxError: it is not sent again). feed: called before each message and
    attempt, and while the WiFi connects (the main loop feeds its watchdog with it, so
    that it is fed only while sending makes progress)."""
    previous = _collect_every()
    try:
        from mpaws import outbox_flush  # loaded on the first flush: a notify does not need it

        return outbox_flush.flush(sys.modules[__name__], feed)
    except MemoryError as e:
        raise _as_aws_error(e)
    finally:
        _collect_every(previous)


def status():
    """Prints and returns the device's state: WiFi, time, outbox size (and how many of its
    messages are set aside, too large to read in this heap, and how many were sent but could
    not be taken out), messages refused for good since start (not kept), last error, free
    heap (and on an ESP32 the ESP-IDF heap: free, largest block). See mpaws.status."""
    return _call("status", "status")


def reset():
    """Forgets the loaded config, the outbox and the connection (after editing config.py)."""
    _call("session", "reset")
