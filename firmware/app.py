# The device application's entry points, as called from the REPL or main.py:
#
#     mpremote exec "import app; app.notify('subject', 'body')"
#     mpremote exec "import app; app.status()"      (WiFi, time, outbox, last error)
#     mpremote exec "import app; app.flush()"       (send what the outbox holds)
#
# notify() sends the JSON payload {"topic": ..., "subject": ..., "body": ..., "id": ...} to
# the configured Lambda function, which publishes it to the SNS topic. Every notification
# goes through the outbox (mpaws.outbox) first and leaves it only once AWS accepted it; the
# id lets the function drop a message it already got (delivery is at-least-once).
import time

from mpaws import awslambda, client, clock, errors, outbox as outbox_file, settings

_settings = None
_lambda = None
_outbox = None
last_error = None  # the last failure (sending, WiFi, NTP, sensor), for status()


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
    s = config()
    if s.device_id:
        return s.device_id
    try:
        import machine

        chip = machine.unique_id()
    except (ImportError, AttributeError):  # not a board
        return "host"
    return "esp32-" + "".join("%02x" % b for b in chip)


def outbox():
    """The outbox (opened, and recovered after a power cut, once)."""
    global _outbox
    if _outbox is None:
        s = config()
        _outbox = outbox_file.Outbox(s.outbox_path, s.outbox_limit, device_id(), log=log)
    return _outbox


def _function():
    # One client for the whole session: its TLS connection is kept alive between notifies.
    global _lambda
    if _lambda is None:
        s = config()
        _lambda = awslambda.Lambda(
            client.connect("lambda", s.region, s.access_key, s.secret_key, s.host, s.port, s.session_token, s.ca,
                           s.verify_tls, s.timeout, log=log))
    return _lambda


def payload(subject, body, message_id=None):
    """The payload as pieces (hashed and sent without being joined)."""
    pairs = [("topic", config().topic_arn), ("subject", subject), ("body", body)]
    if message_id is not None:
        pairs.append(("id", message_id))
    return awslambda.json_object(pairs)


def _send(message_id, subject, body):
    """Invokes the function with one message, then takes it out of the outbox."""
    result = _function().invoke(config().function, payload(subject, body, message_id))
    if message_id is not None:
        try:
            outbox().remove(message_id)
        except OSError as e:  # delivered; it may be sent again, and dropped as a duplicate
            note_error("sent %s but could not take it out of the outbox: %s" % (message_id, e))
    log("mpaws: notified %s (%d): %s" % (message_id, result.status, errors.preview(result.payload)))
    return result


def _check_text(subject, body):
    if not isinstance(subject, str) or not isinstance(body, str):
        raise ValueError("subject and body must be strings")


def queue(subject, body):
    """Stores a notification in the outbox, for the main loop (or flush()) to send; returns
    its id."""
    _check_text(subject, body)
    message_id = outbox().add(subject, body)
    log("mpaws: queued %s: %s" % (message_id, subject))
    return message_id


def notify(subject, body):
    """Sends a notification through the Lambda function; returns its InvokeResult.
    Raises errors.ConfigError for a bad config.py, errors.FunctionError when the function
    failed, and another errors.AWSError when AWS could not be reached or said no; the
    message then stays in the outbox, and flush() (or the main loop) sends it later."""
    _check_text(subject, body)
    config()
    try:
        message_id = outbox().add(subject, body)
    except OSError as e:
        message_id = None
        note_error("cannot write the outbox %s (%s): sending without keeping a copy" % (config().outbox_path, e))
    try:
        return _send(message_id, subject, body)
    except errors.AWSError as e:
        if message_id is not None:
            e.message += " (kept in the outbox as %s: app.flush() sends it)" % message_id
        note_error("notify failed: %s: %s" % (type(e).__name__, e))
        raise


def flush(feed=None):
    """Sends what the outbox holds, oldest first; returns how many were sent. Stops at the
    first failure and raises it (the message stays, for the next flush). feed: called
    before each message (the main loop feeds its watchdog)."""
    box = outbox()
    sent = 0
    while True:
        message = box.oldest()
        if message is None:
            return sent
        if feed is not None:
            feed()
        try:
            _send(message[0], message[1], message[2])
        except errors.AWSError as e:
            e.message += " (flush: %d sent, %d still in the outbox)" % (sent, len(box))
            note_error("flush stopped at %s: %s: %s" % (message[0], type(e).__name__, e))
            raise
        sent += 1


def _wifi_status():
    try:
        import network
    except ImportError:
        return "no WiFi interface here (the host's network is used)"
    wlan = network.WLAN(network.STA_IF)
    if wlan.isconnected():
        return "connected, address %s" % wlan.ifconfig()[0]
    return "not connected (status %s)" % wlan.status()


def status():
    """Prints and returns the device's state: WiFi, time, outbox size, last error."""
    t = time.gmtime(clock.now())
    info = {
        "device": device_id(),
        "wifi": _wifi_status(),
        "time": "%04d-%02d-%02d %02d:%02d:%02d UTC" % t[:6],
        "clock_set": clock.is_set(),
        "outbox": len(outbox()),
        "last_error": last_error,
    }
    for key in ("device", "wifi", "time", "clock_set", "outbox", "last_error"):
        log("%s: %s" % (key, info[key]))
    return info


def reset():
    """Forgets the loaded config, the outbox and the connection (after editing config.py)."""
    global _settings, _lambda, _outbox
    if _lambda is not None:
        _lambda.client.close()
    _settings = None
    _lambda = None
    _outbox = None
