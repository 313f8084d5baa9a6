"""The device application (main.py: mpaws.device with app.py) on the simulated board
(host_tests/sim), under MicroPython (the unix port) and CPython, sending through the real
client to the local AWS stand-in (aws_server.py, signatures checked with botocore).

The board runs on virtual time: each `board` step is one boot, scripted with pin edges,
WiFi outages and sensor values (see sim/simboard.py), and ends at run_ms, at a reset or
at a deep sleep. The server counts what arrived: each notification exactly once, in order,
with a message id."""
import re
import socket

import pytest

from aws_fixtures import aws_server, aws_server_factory  # noqa: F401
from device import assert_error, device, runtime  # noqa: F401
from mpaws import outbox

MESSAGE_ID = re.compile(r"^esp32-240ac4123456\.[0-9a-f]{8}-[0-9]+$")  # the simulated chip's unique id
WIFI_PASSWORD = "wifi-password-not-to-print"
BUTTON = 0
LED = 2
SHORT = "The button was pressed."
LONG = "The button was held down."
CLIENT = {"max_attempts": 1}  # the outbox retries, not the client: no real-time waits


@pytest.fixture
def board(device, aws_server):
    """A Device on the simulated board, configured for aws_server, with a button on GPIO 0
    and the status LED on GPIO 2."""
    dev = device
    dev.sim = True
    dev.secrets.append(WIFI_PASSWORD)
    dev.server = aws_server
    configure(dev)
    return dev


def configure(dev, **keys):
    # No start-up grace (CONFIG_START_DELAY_S) unless a test asks for it: the scripted times
    # are the loop's.
    config = dict(CONFIG_WIFI_SSID="lab", CONFIG_WIFI_PASSWORD=WIFI_PASSWORD, CONFIG_BUTTON_PIN=BUTTON,
                  CONFIG_LED_PIN=LED, CONFIG_BUTTON_MIN_INTERVAL_S=0, CONFIG_NTP_HOSTS=["ntp1", "ntp2"],
                  CONFIG_START_DELAY_S=0)
    config.update(keys)
    dev.use_server(dev.server, **config)


def boot(dev, events=(), run_ms=5000, **fields):
    step = dict(op="board", events=list(events), run_ms=run_ms, client=CLIENT)
    step.update(fields)
    run = dev.run([step], timeout=60)
    result = run.result
    assert result.get("ok"), run
    return result, run


def press(t, ms=200, bounces=0, gap_ms=2, pin=BUTTON):
    """A press of ms on an active-low button; bounces: extra edges at each end, gap_ms apart."""
    events = []
    for start, level in ((t, 0), (t + ms, 1)):
        for i in range(bounces):
            events.append([start + gap_ms * i, "pin", pin, level if i % 2 == 0 else 1 - level])
        events.append([start + gap_ms * bounces, "pin", pin, level])
    return events


def delivered(server):
    """(subject, body) of every invocation, in order, checking each carries a valid id
    and no id arrived twice."""
    events = server.invocations("notify")
    ids = [e["id"] for e in events]
    assert all(MESSAGE_ID.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids), ids
    return [(e["subject"], e["body"]) for e in events]


# -- button -------------------------------------------------------------------------------


def test_press_sends_one_notification(board):
    result, run = boot(board, press(1000))
    assert delivered(board.server) == [("Button", SHORT)]
    assert result["outcome"] == "end" and result["outbox"] == []
    assert all(r.signature == "ok" for r in board.server.requests)
    assert "WiFi: connected to 'lab'" in run.log


def test_bouncing_press_is_one_press(board):
    events = press(1000, ms=300, bounces=10)
    assert len([e for e in events if e[0] < 1030]) == 11  # 10 bounces in 20 ms, then closed
    boot(board, events)
    assert delivered(board.server) == [("Button", SHORT)]


def test_bounces_over_several_loop_turns_are_one_press(board):
    """Edges 15 ms apart for 150 ms at each end: the loop sees the contact move on several
    turns; only a contact still for 50 ms counts."""
    boot(board, press(1000, ms=400, bounces=10, gap_ms=15) + press(2000, ms=400, bounces=10, gap_ms=15))
    assert delivered(board.server) == [("Button", SHORT)] * 2


def test_bounces_shorter_than_the_debounce_time_are_no_press(board):
    events = [[1000 + 4 * i, "pin", BUTTON, i % 2] for i in range(10)] + [[1040, "pin", BUTTON, 1]]
    boot(board, events)
    assert delivered(board.server) == []


def test_long_press_sends_the_long_message_once(board):
    configure(board, CONFIG_BUTTON_LONG_PRESS_MS=1000)
    boot(board, press(1000, ms=2500, bounces=4) + press(4000, ms=300))
    assert delivered(board.server) == [("Button", LONG), ("Button", SHORT)]


def test_custom_messages(board):
    configure(board, CONFIG_BUTTON_SUBJECT="Door", CONFIG_BUTTON_SHORT_MESSAGE="Knock",
              CONFIG_BUTTON_LONG_MESSAGE="Held", CONFIG_BUTTON_LONG_PRESS_MS=800)
    boot(board, press(1000) + press(2000, ms=1000))
    assert delivered(board.server) == [("Door", "Knock"), ("Door", "Held")]


def test_presses_closer_than_the_minimum_interval_are_ignored(board):
    configure(board, CONFIG_BUTTON_MIN_INTERVAL_S=5)
    events = []
    for t in (1000, 2000, 3000, 6500, 7000):
        events += press(t)
    result, run = boot(board, events, run_ms=9000)
    assert delivered(board.server) == [("Button", SHORT)] * 2  # at 1 s and 6.5 s
    assert run.log.count("press ignored") == 3 and "CONFIG_BUTTON_MIN_INTERVAL_S = 5" in run.log


# -- sensor ---------------------------------------------------------------------------------


def _noisy(start, values, period_ms=1000):
    return [[start + i * period_ms, "adc", 34, int(v * 1000000)] for i, v in enumerate(values)]


def test_sensor_hovering_at_the_threshold_sends_one_notification_per_crossing(board):
    configure(board, CONFIG_BUTTON_PIN=None, CONFIG_SENSOR="adc", CONFIG_SENSOR_PIN=34, CONFIG_SENSOR_PERIOD_S=1,
              CONFIG_SENSOR_THRESHOLD=2.0, CONFIG_SENSOR_HYSTERESIS=0.2, CONFIG_SENSOR_SUBJECT="Level",
              CONFIG_SENSOR_UNIT="V")
    # Below, then a first crossing with noise around 2.0 V (never below 1.8 V), back down
    # well below, then a second crossing with noise again.
    values = [1.5, 1.9, 2.05, 1.95, 2.02, 1.98, 2.01, 1.85, 2.1, 1.6, 1.5, 2.25, 1.99, 2.03, 1.95]
    result, run = boot(board, _noisy(500, values), run_ms=len(values) * 1000 + 1500, adc={"34": 1000000})
    sent = delivered(board.server)
    assert [s for s, _ in sent] == ["Level", "Level"], sent
    assert "2.05 V" in sent[0][1] and "2.25 V" in sent[1][1], sent
    assert "above the threshold of 2.0 V" in sent[0][1]


def test_sensor_below_mode_and_reading_failures(board):
    configure(board, CONFIG_BUTTON_PIN=None, CONFIG_SENSOR="dht22", CONFIG_SENSOR_PIN=4, CONFIG_SENSOR_PERIOD_S=2,
              CONFIG_SENSOR_THRESHOLD=5, CONFIG_SENSOR_HYSTERESIS=1, CONFIG_SENSOR_ALERT_WHEN="below")
    # A timeout (OSError) and a checksum error (the driver raises a plain Exception).
    events = [[3000, "sensor_fault", "OSError"], [3500, "sensor_fault", "Exception"], [5000, "temperature", 4.5],
              [9000, "temperature", 5.5], [13000, "temperature", 6.5], [17000, "temperature", 3.0]]
    result, run = boot(board, events, run_ms=20000, temperature=10.0)
    sent = delivered(board.server)
    assert len(sent) == 2 and "4.50 C, below the threshold of 5 C" in sent[0][1] and "3.00 C" in sent[1][1], sent
    assert run.log.count("sensor dht22: reading failed: the DHT22 on GPIO 4: simulated sensor fault") == 2
    assert result["outcome"] == "end"


def test_ds18x20_is_read_after_its_conversion(board):
    """The simulated DS18X20 reads 85.0 before its 750 ms conversion is over, as the real
    one does: no notification comes from that value."""
    configure(board, CONFIG_BUTTON_PIN=None, CONFIG_SENSOR="ds18x20", CONFIG_SENSOR_PIN=4, CONFIG_SENSOR_PERIOD_S=5,
              CONFIG_SENSOR_THRESHOLD=30, CONFIG_SENSOR_SUBJECT="Fridge")
    boot(board, [[6000, "temperature", 31.25]], run_ms=13000, temperature=21.0)
    assert delivered(board.server) == [("Fridge", "Fridge: 31.25 C, above the threshold of 30 C")]


# -- WiFi, AWS failures, the outbox ------------------------------------------------------


def test_wifi_down_for_20_presses_then_all_delivered_in_order(board):
    events = [[500, "wifi", False]]  # connected at 300 ms, then lost
    for i in range(20):
        events += press(1000 + i * 500)
    events.append([13000, "wifi", True])
    result, run = boot(board, events, run_ms=40000)
    events_sent = board.server.invocations("notify")
    assert delivered(board.server) == [("Button", SHORT)] * 20
    numbers = [int(e["id"].rsplit("-", 1)[1]) for e in events_sent]
    assert numbers == sorted(numbers)  # in the order pressed
    assert result["outbox"] == [] and "connection to 'lab' lost" in run.log
    assert result["connects"] >= 3  # retried with backoff while the access point was away
    # The status LED blinked while the WiFi was down (every 250 ms) and is off at the end.
    offline = [level for t, pin, level in result["led"] if pin == LED and 1000 <= t < 13000]
    assert len(offline) >= 40 and set(offline) == {0, 1}
    assert result["led"][-1][2] == 0


def test_wifi_failures_back_off_and_name_the_key(board):
    result, run = boot(board, [[0, "wifi_fail", 3, 202]] + press(2000), run_ms=30000)
    assert run.log.count("wrong password for 'lab': check CONFIG_WIFI_PASSWORD") == 3
    assert "trying again in 2 s" in run.log and "trying again in 4 s" in run.log and "trying again in 8 s" in run.log
    assert result["connects"] == 4 and delivered(board.server) == [("Button", SHORT)]


def test_throttled_then_sent_later_exactly_once(board):
    board.server.throttle_next(2)
    result, run = boot(board, press(1000), run_ms=30000)
    assert delivered(board.server) == [("Button", SHORT)]
    assert [r.status for r in board.server.requests] == [429, 429, 200]
    assert "sending again in 5 s" in run.log and "sending again in 10 s" in run.log
    assert result["outbox"] == []


def test_power_cut_before_sending_loses_nothing(board):
    """Run 1 ends (power cut) with three presses in the outbox and no WiFi; run 2 sends them."""
    events = [[0, "wifi", False]] + press(1000) + press(2000) + press(3000)
    first, _ = boot(board, events, run_ms=4000)
    assert len(first["outbox"]) == 3 and board.server.invocations("notify") == []
    second, run = boot(board, run_ms=3000)
    assert delivered(board.server) == [("Button", SHORT)] * 3
    assert [e["id"] for e in board.server.invocations("notify")] == [m[0] for m in first["outbox"]]
    assert second["outbox"] == [] and "3 message(s) in the outbox" in run.log


def test_outbox_bound_drops_the_oldest_with_a_log_line(board):
    configure(board, CONFIG_OUTBOX_LIMIT=5)
    events = [[0, "wifi", False]]
    for i in range(8):
        events += press(1000 + i * 500)
    first, run = boot(board, events, run_ms=6000)
    assert run.log.count("dropped the oldest") == 3 and len(first["outbox"]) == 5
    boot(board, run_ms=3000)
    sent = board.server.invocations("notify")
    assert [e["id"] for e in sent] == [m[0] for m in first["outbox"]]  # the newest five


# -- watchdog, errors, restarts ------------------------------------------------------------


def test_watchdog_is_fed(board):
    configure(board, CONFIG_WATCHDOG_S=60)
    result, _ = boot(board, press(1000), run_ms=200000)
    assert result["outcome"] == "end" and result["wdt_timeout"] == 60000
    assert result["feeds"] >= 200000 // 20 - 10  # every turn of the loop


def test_a_stalled_loop_is_reset_by_the_watchdog(board):
    """The simulated watchdog does bite: a sensor reading that hangs for 90 s."""
    configure(board, CONFIG_WATCHDOG_S=60, CONFIG_SENSOR="adc", CONFIG_SENSOR_PIN=34, CONFIG_SENSOR_THRESHOLD=1,
              CONFIG_SENSOR_PERIOD_S=1)
    result, _ = boot(board, [[2000, "sensor_delay", 90000]], run_ms=200000)
    assert result["outcome"] == "reset" and result["cause"] == "watchdog"
    assert 60000 < result["time_ms"] < 70000


def test_uncaught_error_is_logged_and_the_board_restarts(board):
    configure(board, CONFIG_SENSOR="adc", CONFIG_SENSOR_PIN=34, CONFIG_SENSOR_THRESHOLD=1, CONFIG_SENSOR_PERIOD_S=1)
    result, run = boot(board, [[2500, "sensor_fault", "RuntimeError"]], run_ms=20000)
    assert result["outcome"] == "reset" and result["cause"] == "machine.reset()"
    assert "uncaught RuntimeError: simulated sensor fault; restarting" in run.log
    assert "RuntimeError" in run.log + run.stderr  # the traceback
    # The next boot says why it restarted.
    again, _ = boot(board, run_ms=1000)
    assert again["reset_cause"] == 2 and again["outcome"] == "end"  # HARD_RESET
    assert again["last_error"] == "before the last restart: RuntimeError: simulated sensor fault"


def _slow_blinks(result):
    """The times the LED changed, checked to be a slow blink (every 2 s)."""
    changes = [t for t, pin, _ in result["led"] if pin == LED][1:]  # the first: the pin set up (off)
    steps = [b - a for a, b in zip(changes, changes[1:])]
    assert changes and all(1900 <= step <= 2100 for step in steps), result["led"]
    return changes


def test_bad_config_stops_without_restarting(board):
    """A config.py the board can't use: the log line, then a slow blink (no watchdog, no
    restart into the same error) until Ctrl-C or a reset."""
    configure(board, CONFIG_BUTTON_DEBOUNCE_MS=5)
    result, run = boot(board, run_ms=9000, client=None)
    assert result["outcome"] == "end" and result["wdt_timeout"] is None and result["reset_cause"] != "watchdog"
    assert "CONFIG_BUTTON_DEBOUNCE_MS: must be milliseconds from 50 to 1000" in run.log
    assert "fix config.py" in run.log
    assert len(_slow_blinks(result)) >= 4


def test_a_message_sns_would_refuse_is_logged_and_the_loop_goes_on(board):
    """Direct SNS: a message app.queue refuses (ValueError: with its id attribute it is over
    SNS's 256 KB) is logged and kept in last_error, not queued; the board does not restart
    and the next press is queued."""
    from mpaws import sns

    too_long = "x" * (sns.MAX_MESSAGE_BYTES - 10)  # passes the config check, not the id attribute's room
    configure(board, CONFIG_AWS_LAMBDA_FUNCTION=None, CONFIG_BUTTON_SHORT_MESSAGE=too_long,
              CONFIG_BUTTON_LONG_PRESS_MS=1000, CONFIG_WIFI_SSID=None)  # no WiFi: nothing is sent
    result, run = boot(board, press(1000) + press(3000, ms=1500), run_ms=6000, client=None)
    assert result["outcome"] == "end"
    assert [m[1:] for m in result["outbox"]] == [["Button", LONG]]
    assert run.log.count("message refused, not sent: body: too large for SNS") == 1
    assert "subject 'Button', a body of %d characters" % len(too_long) in run.log
    assert result["last_error"] is not None and "message refused" in result["last_error"]
    assert too_long[:100] not in run.log


def test_a_subject_sns_would_refuse_stops_the_board_at_start_naming_the_key(board):
    configure(board, CONFIG_AWS_LAMBDA_FUNCTION=None, CONFIG_BUTTON_SUBJECT="Türklingel")
    result, run = boot(board, press(1000), run_ms=5000, client=None)
    assert result["outcome"] == "end" and result["wdt_timeout"] is None
    assert "CONFIG_BUTTON_SUBJECT: SNS allows only printable ASCII" in run.log and "fix config.py" in run.log
    _slow_blinks(result)


# -- the start-up grace: Ctrl-C before the watchdog ------------------------------------------


GRACE_LINE = "mpaws: starting in 3 s (Ctrl-C for the REPL)"


def test_ctrl_c_in_the_start_up_grace_gives_the_repl_without_a_watchdog(board):
    """What mpremote does after `make deploy` reset the board: a Ctrl-C while main.py waits.
    No watchdog and no WiFi started; the REPL works and is never restarted."""
    configure(board, CONFIG_START_DELAY_S=3)
    steps = [dict(op="board", events=[[1500, "ctrl_c"]] + press(2000), run_ms=10000, client=CLIENT),
             {"op": "outbox"}, {"op": "repl_idle", "ms": 600000}]
    run = board.run(steps, timeout=60)
    interrupted, box, idle = run.results
    assert interrupted["outcome"] == "interrupted" and interrupted["time_ms"] == 1500
    assert interrupted["wdt_timeout"] is None and interrupted["feeds"] == 0 and interrupted["connects"] == 0
    assert GRACE_LINE in run.log
    assert box["ok"] and box["outbox"] == []
    assert idle["outcome"] == "end" and idle["time_ms"] == 601500  # ten minutes at the REPL, no restart
    assert board.server.requests == []


def test_without_ctrl_c_the_loop_starts_after_the_grace(board):
    configure(board, CONFIG_START_DELAY_S=3, CONFIG_WATCHDOG_S=60)
    result, run = boot(board, press(4000), run_ms=8000, connect_ms=300)
    assert GRACE_LINE in run.log
    assert result["outcome"] == "end" and result["wdt_timeout"] == 60000
    assert [t for t, _, ok in result["ntp"] if ok] == [3300]  # WiFi from 3 s, connected 300 ms later
    assert delivered(board.server) == [("Button", SHORT)]


def test_ctrl_c_after_the_grace_leaves_the_watchdog_running(board):
    """The watchdog cannot be stopped: the REPL after a Ctrl-C in the running loop lasts
    CONFIG_WATCHDOG_S, then the board restarts."""
    configure(board, CONFIG_START_DELAY_S=3, CONFIG_WATCHDOG_S=60)
    steps = [dict(op="board", events=[[5000, "ctrl_c"]], run_ms=10000, client=CLIENT),
             {"op": "repl_idle", "ms": 600000}]
    interrupted, idle = board.run(steps, timeout=60).results
    assert interrupted["outcome"] == "interrupted" and interrupted["wdt_timeout"] == 60000
    assert idle["outcome"] == "reset" and idle["cause"] == "watchdog"
    assert 5000 - 20 + 60000 < idle["time_ms"] <= 5000 + 60000 + 1  # 60 s after the last feed (a 20 ms loop)


def test_a_deep_sleep_wake_up_skips_the_grace(board):
    configure(board, CONFIG_START_DELAY_S=3, CONFIG_DEEP_SLEEP=True, CONFIG_SLEEP_S=600)
    first, run = boot(board, run_ms=60000)
    assert first["outcome"] == "deepsleep" and GRACE_LINE in run.log and first["time_ms"] >= 3000
    woken, run = boot(board, run_ms=60000, wake="timer")
    assert woken["outcome"] == "deepsleep" and woken["reset_cause"] == 4  # DEEPSLEEP_RESET
    assert "starting in" not in run.log and woken["time_ms"] < 3000


# -- clock ----------------------------------------------------------------------------------


def test_ntp_at_start_then_every_resync_period(board):
    configure(board, CONFIG_NTP_RESYNC_H=0.1)  # 6 minutes
    result, _ = boot(board, run_ms=800000, connect_ms=300)
    times = [t for t, _, ok in result["ntp"] if ok]
    assert times == [300, 360300, 720300], result["ntp"]


def test_ntp_failure_tries_the_next_host_later(board):
    result, run = boot(board, [[0, "ntp_fail", ["ntp1"]]], run_ms=40000)
    assert [(t, host, ok) for t, host, ok in result["ntp"]] == [(300, "ntp1", False), (30300, "ntp2", True)]
    assert "NTP from ntp1 failed" in run.log and "CONFIG_NTP_HOSTS" in run.log


# -- deep sleep ----------------------------------------------------------------------------


def test_deep_sleep_cycle(board):
    configure(board, CONFIG_DEEP_SLEEP=True, CONFIG_SLEEP_S=600, CONFIG_SENSOR="adc", CONFIG_SENSOR_PIN=34,
              CONFIG_SENSOR_THRESHOLD=2.0, CONFIG_BUTTON_LONG_PRESS_MS=1000)
    # Power-on: the sensor is above the threshold: one notification, NTP, sleep.
    first, _ = boot(board, run_ms=60000, adc={"34": 2500000})
    assert first["outcome"] == "deepsleep" and first["sleep_ms"] == 600000
    assert first["ext0"] == [BUTTON, False]  # wakes when GPIO 0 goes low
    assert [h for _, h, ok in first["ntp"] if ok] == ["ntp1"]
    assert delivered(board.server) == [("Sensor", "Sensor: 2.50 V, above the threshold of 2.0 V")]
    # Timer wake-up: still above: no new alarm (kept in RTC memory), nothing sent, no WiFi.
    second, _ = boot(board, run_ms=60000, wake="timer", adc={"34": 2600000})
    assert second["outcome"] == "deepsleep" and second["connects"] == 0 and second["ntp"] == []
    # The button woke it: sent, with no NTP call (the RTC kept the time).
    third, run = boot(board, run_ms=60000, wake="ext0", pins={"0": 0}, events=[[100, "pin", BUTTON, 1]])
    assert third["outcome"] == "deepsleep" and third["ntp"] == [] and third["connects"] == 1
    assert delivered(board.server)[1:] == [("Button", SHORT)]
    # Held past the long-press time after waking: the long message.
    fourth, _ = boot(board, run_ms=60000, wake="ext0", pins={"0": 0}, events=[[3000, "pin", BUTTON, 1]])
    assert delivered(board.server)[2:] == [("Button", LONG)] and fourth["ntp"] == []


def test_deep_sleep_keeps_messages_when_wifi_fails(board):
    configure(board, CONFIG_DEEP_SLEEP=True, CONFIG_WIFI_TIMEOUT_S=5)
    first, _ = boot(board, run_ms=60000, wake="ext0", pins={"0": 0}, events=[[50, "pin", BUTTON, 1]], wifi_up=False)
    assert first["outcome"] == "deepsleep" and len(first["outbox"]) == 0  # a power-on: no button wake yet
    second, _ = boot(board, run_ms=60000, wake="ext0", pins={"0": 0}, events=[[50, "pin", BUTTON, 1]],
                     wifi_up=False)
    assert second["outcome"] == "deepsleep" and len(second["outbox"]) == 1
    assert board.server.invocations("notify") == []
    third, _ = boot(board, run_ms=60000, wake="timer")
    assert third["outbox"] == [] and delivered(board.server) == [("Button", SHORT)]


# -- the REPL: notify, status, flush ---------------------------------------------------------


def test_notify_failure_keeps_the_message_and_flush_sends_it(board):
    board.server.fail_next(403, "AccessDeniedException", "not allowed")
    steps = [dict(op="notify", subject="s1", body="b1"), {"op": "status"}, {"op": "flush"}, {"op": "status"},
             {"op": "flush"}]
    run = board.run(steps)
    failed, before, flushed, after, again = run.results
    assert_error(failed, "AccessDenied", "kept in the outbox as esp32-240ac4123456.")
    assert before["outbox"] == 1 and "AccessDenied" in before["last_error"]
    assert flushed["sent"] == 1 and after["outbox"] == 0 and again["sent"] == 0
    assert before["clock_set"] is True and before["device"] == "esp32-240ac4123456"
    assert before["wifi"].startswith("connected")  # no main loop ran: notify connected it
    assert delivered(board.server) == [("s1", "b1")]


def test_flush_stops_at_the_first_failure_oldest_first(board):
    board.server.fail_next(500, "ServiceException", "boom", count=1)
    queue = [dict(op="queue", subject="q%d" % i, body="b") for i in range(3)]
    run = board.run(queue + [{"op": "tune", "max_attempts": 1}, {"op": "flush"}, {"op": "outbox"}, {"op": "flush"},
                             {"op": "status"}])
    ids = [r["id"] for r in run.results[:3]]
    failed, left, flushed, status = run.results[4:]
    assert_error(failed, "ServiceError", "flush: 0 sent, 3 still in the outbox")
    assert [m[0] for m in left["outbox"]] == ids
    assert flushed["sent"] == 3 and status["outbox"] == 0
    assert [e["subject"] for e in board.server.invocations("notify")] == ["q0", "q1", "q2"]
    assert [e["id"] for e in board.server.invocations("notify")] == ids


def test_status_reports_the_gc_heap_and_the_esp_idf_heap(board):
    regions = [[98304, 20480, 12288, 8192], [32768, 6144, 4096, 4096], [16384, 0, 0, 0]]
    run = board.run([dict(op="world", idf_heap=regions), {"op": "status"}])
    status = run.results[1]
    assert status["idf_heap_free"] == 20480 + 6144 and status["idf_heap_largest"] == 12288
    if board.runtime == "micropython":
        assert 0 < status["heap_free"] < 2 * 1024 * 1024  # the unix port's default heap
        assert "heap_free: %d" % status["heap_free"] in run.log
    assert "idf_heap_largest: 12288" in run.log


def test_a_tls_handshake_that_times_out_names_a_small_esp_idf_heap(board):
    # A server that takes the connection and never answers the handshake: on an ESP32 whose
    # ESP-IDF heap has no block for mbedTLS's buffers, that is how a handshake fails.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        configure(board, CONFIG_AWS_HOST="localhost:%d" % silent.getsockname()[1], CONFIG_TIMEOUT=1)
        small = [[98304, 9728, 7168, 4096]]
        run = board.run([{"op": "tune", "max_attempts": 1}, dict(op="world", idf_heap=small),
                         dict(op="notify", subject="s", body="b"), dict(op="world", idf_heap=[[98304, 40960, 32768,
                                                                                                  4096]]),
                         dict(op="notify", subject="s", body="b")], timeout=60)
    finally:
        silent.close()
    small_heap, roomy = run.results[2], run.results[4]
    assert_error(small_heap, "Timeout", "during the TLS handshake", "9728 bytes free, largest block 7168",
                 "gc heap")
    assert_error(roomy, "Timeout", "during the TLS handshake")
    assert "ESP-IDF" not in roomy["message"]


# -- the REPL after a soft reset (main.py not run): WiFi and clock on demand -------------------


def world(**scene):
    return dict(op="world", **scene)


def test_notify_from_the_repl_connects_the_wifi_first(board):
    run = board.run([world(), dict(op="notify", subject="s1", body="b1"), world(), {"op": "status"}])
    before, sent, after, status = run.results
    assert before["link"] == "idle" and before["connects"] == 0  # down, as after a soft reset
    assert sent["ok"] and sent["attempts"] == 1, run
    assert after["connects"] == 1 and after["link"] == "connected" and after["time_ms"] >= 300
    assert after["ntp"] == []  # the clock was set: no NTP
    assert "WiFi: connected to 'lab'" in run.log and status["outbox"] == 0
    assert delivered(board.server) == [("s1", "b1")]


def test_notify_with_the_clock_unset_sets_it_by_ntp_first(board):
    run = board.run([world(unset_clock=True), dict(op="notify", subject="s", body="b"), world()])
    _, sent, after = run.results
    assert [(host, answered) for _, host, answered in after["ntp"]] == [("ntp1", True)]
    assert sent["ok"] and sent["attempts"] == 1 and sent["offset"] == 0, run  # signed with the NTP time
    assert "clock set by NTP from ntp1" in run.log and delivered(board.server) == [("s", "b")]


def test_notify_when_ntp_fails_learns_the_time_from_aws(board):
    configure(board, CONFIG_NTP_HOSTS=["ntp1"])
    run = board.run([world(unset_clock=True, ntp_fail=["ntp1"]), dict(op="notify", subject="s", body="b"), world()])
    _, sent, after = run.results
    assert [(host, answered) for _, host, answered in after["ntp"]] == [("ntp1", False)]
    assert "no NTP server answered" in run.log and "sending anyway" in run.log
    assert sent["ok"] and abs(sent["offset"]) < 300, run  # corrected from the 403's Date header
    assert [r.status for r in board.server.requests] == [403, 200] and "device clock is off by" in run.log
    assert delivered(board.server) == [("s", "b")]


@pytest.mark.parametrize("scene, config, words", [
    (dict(wifi_up=False), {}, ["no access point named 'lab' in range: check CONFIG_WIFI_SSID"]),
    (dict(wifi_fail=[1, 202]), {}, ["wrong password for 'lab': check CONFIG_WIFI_PASSWORD"]),
    (dict(connect_ms=60000), dict(CONFIG_WIFI_TIMEOUT_S=5),
     ["no connection to 'lab' within 5 s (CONFIG_WIFI_TIMEOUT_S)", "check CONFIG_WIFI_SSID and CONFIG_WIFI_PASSWORD"]),
    ({}, dict(CONFIG_WIFI_SSID=None), ["CONFIG_WIFI_SSID is not set in config.py"]),
], ids=["no-access-point", "wrong-password", "timeout", "no-ssid"])
def test_notify_without_wifi_keeps_the_message_with_a_clear_error(board, scene, config, words):
    configure(board, **config)
    run = board.run([world(**scene), dict(op="notify", subject="s", body="b"), world(), {"op": "outbox"}])
    _, failed, after, box = run.results
    assert_error(failed, "NetworkError", "no WiFi: ", "kept in the outbox as esp32-240ac4123456.", *words)
    assert [m[1:] for m in box["outbox"]] == [["s", "b"]] and board.server.requests == []
    assert after["connects"] <= 1 and after["time_ms"] <= 5000 + 100  # one attempt, bounded by the timeout


def test_flush_from_the_repl_connects_the_wifi_and_sends_what_waited(board):
    steps = [world(wifi_up=False), dict(op="notify", subject="s1", body="b1"),
             dict(op="notify", subject="s2", body="b2"), world(wifi_up=True), {"op": "flush"}, world()]
    run = board.run(steps)
    first, second, flushed, after = run.results[1], run.results[2], run.results[4], run.results[5]
    assert_error(first, "NetworkError") and assert_error(second, "NetworkError")
    assert flushed["sent"] == 2 and after["connects"] == 3
    assert delivered(board.server) == [("s1", "b1"), ("s2", "b2")]


def test_off_the_board_the_outbox_is_in_the_current_directory(device, tmp_path):
    """On a computer (no simulated board): a failed notify leaves the message in
    ./outbox.txt, under the id prefix "host"."""
    dev = device
    dev.write_config(CONFIG_AWS_HOST="localhost:1")  # nothing listens there
    run = dev.run([dict(op="notify", subject="s", body="b")])
    assert_error(run.result, "NetworkError", "kept in the outbox as host.")
    kept = list(outbox.Outbox(str(tmp_path / "outbox.txt"), 50, "host").messages())
    assert [m[1:] for m in kept] == [("s", "b")] and kept[0][0] in run.result["message"]
