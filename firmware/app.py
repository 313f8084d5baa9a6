# The device application's entry points, as called from the REPL or main.py:
#
#     mpremote exec "import app; app.notify('subject', 'body')"
#     mpremote exec "import app; app.status()"      (WiFi, time, outbox, last error)
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
import time

from mpaws import awslambda, client, clock, errors, outbox as outbox_file, settings

ID_ATTRIBUTE = "mpaws-id"  # the SNS message attribute with the message id (cloud/lambda_function.py's)

_settings = None
_lambda = None  # the Lambda client (awslambda.Lambda)
_sns = None  # direct SNS: the SNS client (mpaws.client.Client)
_api = None  # API Gateway mode (CONFIG_AWS_API_URL): its mpaws.client.Client
API_ROUTE = "/notify"  # what notify() POSTs to, under CONFIG_AWS_API_URL (the stage's URL)
_JSON = (("content-type", "application/json"),)
_outbox = None
_board = None  # whether there is a WiFi interface (the `network` module); looked up once
ticks = None  # the clock WiFi waits on: board.Clock() when None (the simulated board sets its own)
last_error = None  # the last failure (sending, WiFi, NTP, sensor), for status()
refused = 0  # messages refused for good (errors.refusal) since start, not kept; for status()


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


def _connect(service):
    s = config()
    return client.connect(service, s.region, s.access_key, s.secret_key, s.host, s.port, s.session_token, s.ca,
                          s.verify_tls, s.timeout, log=log)


def _function():
    # One client for the whole session: its TLS connection is kept alive between notifies.
    global _lambda
    if _lambda is None:
        _lambda = awslambda.Lambda(_connect("lambda"))
    return _lambda


def _gateway():
    # API Gateway mode: one client for the session, its connection kept alive like Lambda's;
    # the URL was taken apart by the config check. No mpaws.apigateway (its Api wrapper and
    # URL parsing) in the heap: the request is the client's, as for SNS.
    global _api
    if _api is None:
        from mpaws import sigv4

        s = config()
        signer = client.KeyAuth(s.api_key) if s.api_key else sigv4.Signer(
            s.access_key, s.secret_key, s.region, "execute-api", session_token=s.session_token)
        _api = client.open_client(signer, s.api_host, s.api_port, s.ca, s.verify_tls, s.timeout, log=log)
    return _api


def _client():
    """The session's mpaws.client.Client: Lambda's, SNS's in direct-SNS mode, or API
    Gateway's (CONFIG_AWS_API_URL)."""
    global _sns
    if config().api_url:
        return _gateway()
    if config().function:
        return _function().client
    if _sns is None:
        _sns = _connect("sns")
    return _sns


def payload(subject, body, message_id=None):
    """The payload as pieces (hashed and sent without being joined)."""
    pairs = [("topic", config().topic_arn), ("subject", subject), ("body", body)]
    if message_id is not None:
        pairs.append(("id", message_id))
    return awslambda.json_object(pairs)


def _send(message_id, subject, body):
    """Sends one message (Invoke, or Publish in direct-SNS mode), then takes it out of the
    outbox."""
    s = config()
    if s.api_url:  # through API Gateway to the same function: the same JSON, POSTed
        result = _gateway().request("POST", s.api_base + API_ROUTE, None, _JSON, payload(subject, body, message_id))
        said = "%d: %s" % (result.status, errors.preview(result.body))
    elif s.function:
        result = _function().invoke(s.function, payload(subject, body, message_id))
        said = "%d: %s" % (result.status, errors.preview(result.payload))
    else:
        from mpaws import sns

        result = sns.publish(_client(), s.topic_arn, body, subject,
                             None if message_id is None else ((ID_ATTRIBUTE, message_id),))
        said = "SNS message %s" % result
    if message_id is not None:
        try:
            outbox().remove(message_id)
        except OSError as e:  # delivered; it may be sent again, and dropped as a duplicate
            note_error("sent %s but could not take it out of the outbox: %s" % (message_id, e))
    log("mpaws: notified %s (%s)" % (message_id, said))
    return result


# A subject of 1 to 100 (mpaws.sns.MAX_SUBJECT) printable ASCII characters and a body of
# at most this many characters (4 bytes of UTF-8 each at most: 260,000 bytes) pass SNS's
# rules whatever the id; see _plain().
_PLAIN_BODY_CHARS = 65000


def _plain(subject, body):
    """Whether the message surely passes mpaws.sns.check: the usual message, recognised
    without loading mpaws.sns (1.4 KB of heap on the way to the TLS handshake)."""
    if not body or len(body) > _PLAIN_BODY_CHARS or not 0 < len(subject) <= 100 or subject[0] == " ":
        return False
    for c in subject:
        if not " " <= c <= "~":
            return False
    return True


def _check_text(subject, body):
    if not isinstance(subject, str) or not isinstance(body, str):
        raise ValueError("subject and body must be strings")
    # What SNS would refuse, and so the function (cloud/lambda_function.py checks SNS's
    # rules), is refused here, before the outbox: the message could never leave it. The id
    # does not exist yet, so the longest one is counted.
    function = config().function or config().api_url  # through the function: its rules
    if function and _plain(subject, body):
        return
    from mpaws import sns

    try:
        sns.check(body, subject, ((ID_ATTRIBUTE, "-" * outbox_file.MAX_ID),))
    finally:
        if function:  # through the function, sns is not needed to send: its code goes
            from mpaws import transient

            transient.forget("sns")


def _online(feed=None):
    """On a board whose WiFi is down (a call from the REPL, main.py not running): connects
    it, waiting CONFIG_WIFI_TIMEOUT_S at most, then sets the clock by NTP if it is not set.
    Raises errors.NetworkError when the WiFi does not connect. Nothing on a computer."""
    global _board
    if _board is None:
        try:
            import network  # noqa: F401

            _board = True
        except ImportError:  # a computer: its own network and clock
            _board = False
    if not _board:
        return
    from mpaws import wifi

    s = config()
    if wifi.connect_now(s.wifi_ssid, s.wifi_password, s.wifi_timeout_s, ticks, log, feed) and not clock.is_set():
        try:
            log("mpaws: clock set by NTP from %s" % clock.sync_ntp(s.ntp_hosts, 1, log))
        except OSError as e:  # AWS's reply sets the client's clock instead (one more request)
            note_error("%s; sending anyway" % e)


def queue(subject, body):
    """Stores a notification in the outbox, for the main loop (or flush()) to send; returns
    its id. Raises ValueError as notify() does."""
    _check_text(subject, body)
    message_id = outbox().add(subject, body)
    log("mpaws: queued %s: %s" % (message_id, subject))
    return message_id


def _refused(message_id, subject, reason, say):
    """Takes a message refused for good out of the outbox; say: whether to log it as
    dropped (notify()'s error says so instead). Returns whether it is out."""
    global refused
    if message_id is not None:
        try:
            outbox().remove(message_id)
        except OSError as e:
            note_error("%s is refused for good (%s) but could not be taken out of the outbox: %s"
                       % (message_id, reason, e))
            return False
    refused += 1
    if say:
        note_error("dropped %s %r: %s" % (message_id, subject, reason))
    return True


def notify(subject, body):
    """Sends a notification. Through the Lambda function, returns its InvokeResult; in
    direct-SNS mode (CONFIG_AWS_LAMBDA_FUNCTION = None), the SNS MessageId (str).
    Raises ValueError for a subject or body SNS (and so the function) would never accept,
    errors.ConfigError for a bad config.py, errors.FunctionError when the function failed,
    errors.NetworkError when the WiFi does not connect, and another errors.AWSError when
    AWS could not be reached or said no. The message then stays in the outbox, and flush()
    (or the main loop) sends it later; unless it is refused for good (errors.refusal: the
    function or AWS rejected its content): then the error says it was not kept."""
    config()
    _check_text(subject, body)
    try:
        message_id = outbox().add(subject, body)
    except OSError as e:
        message_id = None
        note_error("cannot write the outbox %s (%s): sending without keeping a copy" % (config().outbox_path, e))
    try:
        _online()
        return _send(message_id, subject, body)
    except errors.AWSError as e:
        reason = errors.refusal(e)
        if reason is not None and _refused(message_id, subject, reason, False):
            e.message += " (not kept in the outbox: the message itself is refused, sending it again cannot succeed)"
        elif message_id is not None:
            e.message += " (kept in the outbox as %s: app.flush() sends it)" % message_id
        note_error("notify failed: %s: %s" % (type(e).__name__, e))
        raise


def flush(feed=None):
    """Sends what the outbox holds, oldest first; returns how many were sent. Connects the
    WiFi first when it is down (on a board). A message refused for good (errors.refusal)
    is taken out with a log line ("dropped <id> '<subject>': refused by ..."), and the next
    is sent. Stops at any other failure and raises it (the message stays, for the next
    flush). feed: called before each message and while the WiFi connects (the main loop
    feeds its watchdog)."""
    box = outbox()
    sent = 0
    online = False
    while True:
        message = box.oldest()
        if message is None:
            return sent
        if feed is not None:
            feed()
        try:
            if not online:
                _online(feed)
                online = True
            _send(message[0], message[1], message[2])
        except (errors.AWSError, ValueError) as e:  # ValueError: direct SNS checks the message again
            reason = errors.refusal(e)
            if reason is not None and _refused(message[0], message[1], reason, True):
                continue  # the messages after it are not held back
            if isinstance(e, errors.AWSError):
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
    """Prints and returns the device's state: WiFi, time, outbox size, messages refused for
    good since start (not kept), last error."""
    t = time.gmtime(clock.now())
    info = {
        "device": device_id(),
        "wifi": _wifi_status(),
        "time": "%04d-%02d-%02d %02d:%02d:%02d UTC" % t[:6],
        "clock_set": clock.is_set(),
        "outbox": len(outbox()),
        "refused": refused,
        "last_error": last_error,
    }
    for key in ("device", "wifi", "time", "clock_set", "outbox", "refused", "last_error"):
        log("%s: %s" % (key, info[key]))
    return info


def reset():
    """Forgets the loaded config, the outbox and the connection (after editing config.py)."""
    global _settings, _lambda, _sns, _outbox, _api
    if _api is not None:
        _api.close()
    _api = None
    if _lambda is not None:
        _lambda.client.close()
    if _sns is not None:
        _sns.close()
    _settings = None
    _lambda = None
    _sns = None
    _outbox = None
