# The device's main loop, run by main.py as device.main(app): status LED, WiFi with
# reconnects, the clock (NTP, again every CONFIG_NTP_RESYNC_H hours), the button and the
# sensor, the outbox sent whenever the network is up, and the watchdog fed on every turn.
# In deep-sleep mode (CONFIG_DEEP_SLEEP), one cycle instead: wake, send, sleep again.
#
# `app` is the application module (app.py): configuration, outbox and sending. `ticks`
# is the loop's clock (board.Clock; tests pass a simulated one).
from mpaws import board, button, clock, errors, wifi

LOOP_MS = 20  # one turn of the loop: well under the 50 ms debounce
FIRST_RETRY_MS = 5000  # sending again after a failure: 5 s, doubling up to 5 min
MAX_RETRY_MS = 300000
NTP_FIRST_RETRY_MS = 30000  # NTP again after a failure: 30 s, doubling up to 30 min
NTP_MAX_RETRY_MS = 1800000
CRASH_PAUSE_MS = 3000  # before a restart after an error: time to read it, or press Ctrl-C


class Device:
    def __init__(self, app, ticks):
        self.app = app
        self.ticks = ticks
        s = self.settings = app.config().check_board()  # a board key's mistake stops the loop here
        self.state = board.rtc_state()
        crash = self.state.get("crash")
        if crash:
            app.last_error = "before the last restart: " + crash
            self.state.set("crash", None)
            self.state.save()
        self.led = board.Led(s.led_pin, s.led_active_low)
        self.station = wifi.Station(s.wifi_ssid, s.wifi_password, s.wifi_timeout_s, ticks, app.log, app.note_error)
        self.button = None
        if s.button_pin is not None:
            self.button = button.Button(s.button_pin, s.button_active_low, s.debounce_ms, s.long_press_ms, ticks)
        self.sensor = None
        if s.sensor is not None:
            from mpaws import sensor  # only when configured: its code costs RAM

            self.sensor = sensor.Sensor(s, ticks, app.note_error, alarm=self.state.get("alarm", False))
        try:
            import ntptime

            self.ntptime = ntptime
        except ImportError:  # a computer: its clock is kept by its system
            self.ntptime = None
        self.watchdog = board.Watchdog(s.watchdog_s)  # from here on, the loop must keep turning
        now = ticks.ticks_ms()
        self.button_sent_at = None
        self.send_at = now
        self.send_retry_ms = FIRST_RETRY_MS
        self.ntp_at = ticks.ticks_add(now, self._sync_due_in_ms())
        self.ntp_retry_ms = NTP_FIRST_RETRY_MS
        self.ntp_host = 0

    # -- the loop --------------------------------------------------------------------

    def run(self):
        s = self.settings
        self.app.log("mpaws: device %s: button %s, sensor %s, %d message(s) in the outbox%s"
                     % (self.app.device_id(), s.button_pin, s.sensor, len(self.app.outbox()),
                        ", deep sleep" if s.deep_sleep else ""))
        if s.deep_sleep:
            self.wake_cycle()
            return
        while True:
            self.step()
            self.ticks.sleep_ms(LOOP_MS)

    def step(self):
        """One turn of the loop."""
        now = self.ticks.ticks_ms()
        self.watchdog.feed()
        was_online = self.station.connected
        online = self.station.poll(now)
        if online and not was_online:
            self.send_at = now  # back online: send what waited, now
        if self.button is not None:
            self._check_button(now)
        if self.sensor is not None:
            self._check_sensor(self.sensor.poll(now), now)
        if online:
            self._sync_clock(now)
            self._send(now)
        if not online:
            self.led.blink(now, 500)
        elif len(self.app.outbox()):
            self.led.blink(now, 2000)
        else:
            self.led.set(False)

    def _check_button(self, now):
        press = self.button.poll(now)
        if press is None:
            return
        s = self.settings
        if self.button_sent_at is not None:
            since_ms = self.ticks.ticks_diff(now, self.button_sent_at)
            if since_ms < s.button_interval_s * 1000:
                self.app.log("mpaws: button: %s press ignored, %d ms after the last notification "
                             "(CONFIG_BUTTON_MIN_INTERVAL_S = %s)" % (press, since_ms, s.button_interval_s))
                return
        self.button_sent_at = now
        self._queue_press(press, now)

    def _queue_press(self, press, now):
        s = self.settings
        self._queue(s.button_subject, s.button_long_message if press == button.LONG else s.button_short_message, now)

    def _check_sensor(self, body, now):
        if body is not None:
            self._queue(self.settings.sensor_subject, body, now)
        alarm = self.sensor.threshold.alarm
        if alarm != self.state.get("alarm", False):
            self.state.set("alarm", alarm)  # kept over restarts and deep sleep: no repeated alarm
            self.state.save()

    def _queue(self, subject, body, now):
        try:
            self.app.queue(subject, body)
        except errors.InvalidMessage as e:
            # What SNS would never accept (direct SNS: app.queue checks its rules) is refused
            # here, not sent: logged and kept for app.status(), and the loop goes on. The
            # body is not repeated: it may be what is too long.
            self.app.note_error("message refused, not sent: %s (subject %r, a body of %d characters; check "
                                "the CONFIG_*_SUBJECT and CONFIG_*_MESSAGE keys)" % (e, subject, len(body)))
        except errors.AWSError as e:  # the outbox could not be written (full flash), or too little heap
            self.app.note_error("not queued, not sent: %s: %s (subject %r)" % (type(e).__name__, e, subject))

    def _send(self, now):
        if not len(self.app.outbox()) or self.ticks.ticks_diff(now, self.send_at) < 0:
            return
        self.led.set(True)
        try:
            self.app.flush(self.watchdog.feed)
        except errors.AWSError:  # logged by flush(); the message stays in the outbox
            self.send_at = self.ticks.ticks_add(self.ticks.ticks_ms(), self.send_retry_ms)
            self.app.log("mpaws: sending again in %d s" % (self.send_retry_ms // 1000))
            self.send_retry_ms = min(self.send_retry_ms * 2, MAX_RETRY_MS)
        else:
            self.send_retry_ms = FIRST_RETRY_MS
        self.led.set(False)

    # -- the clock ---------------------------------------------------------------------

    def _sync_due_in_ms(self):
        """Milliseconds until the clock needs NTP: 0 when it is not set or was never synced
        since power-on (the time of the last sync is in the RTC memory)."""
        last = self.state.get("ntp")
        if last is None or not clock.is_set():
            return 0
        age = clock.local_seconds() - last
        return max(0, int(self.settings.ntp_resync_s - age)) * 1000

    def _sync_clock(self, now):
        if self.ntptime is None or self.ticks.ticks_diff(now, self.ntp_at) < 0:
            return
        self.ntp_at = self.ticks.ticks_add(now, self._sync_ntp())

    def _sync_ntp(self):
        """One NTP request (to the next host after a failure); returns the ms until the next."""
        hosts = self.settings.ntp_hosts
        host = hosts[self.ntp_host % len(hosts)]
        try:
            self.ntptime.host = host
            self.ntptime.settime()
        except (OSError, OverflowError, IndexError) as e:
            self.ntp_host += 1
            wait_ms = self.ntp_retry_ms
            self.ntp_retry_ms = min(wait_ms * 2, NTP_MAX_RETRY_MS)
            self.app.note_error("NTP from %s failed: %s; trying again in %d s (check CONFIG_NTP_HOSTS)"
                                % (host, e, wait_ms // 1000))
            return wait_ms
        clock.offset = 0
        self.ntp_retry_ms = NTP_FIRST_RETRY_MS
        self.state.set("ntp", clock.local_seconds())
        self.state.save()
        self.app.log("mpaws: clock set by NTP from %s" % host)
        return int(self.settings.ntp_resync_s * 1000)

    # -- deep sleep ----------------------------------------------------------------------

    def wake_cycle(self):
        """Deep-sleep mode: what woke the board (button, or timer and power-on: the
        sensor), then send what the outbox holds, then sleep again."""
        s = self.settings
        now = self.ticks.ticks_ms()
        if self.button is not None and board.woken_by_button():
            self._wake_press(now)
        elif self.sensor is not None:
            self._check_sensor(self.sensor.read_now(self._sleep_fed), now)
        if len(self.app.outbox()):
            self._connect_and_send()
        self.led.set(False)
        self.state.save()
        self.app.log("mpaws: deep sleep for %d s%s" % (s.sleep_s, " or until the button" if self.button else ""))
        board.deep_sleep(int(s.sleep_s * 1000), s.button_pin, s.button_active_low)

    def _sleep_fed(self, ms):
        while ms > 0:
            self.watchdog.feed()
            self.ticks.sleep_ms(min(ms, LOOP_MS))
            ms -= LOOP_MS

    def _wake_press(self, now):
        # The press woke the board; it is long if the button is still held long_press_ms
        # after start-up. Its rate limit uses the RTC clock, which runs through deep sleep.
        s = self.settings
        start = now
        while self.button.pressed_now() and self.ticks.ticks_diff(now, start) < s.long_press_ms:
            self._sleep_fed(LOOP_MS)
            now = self.ticks.ticks_ms()
        press = button.LONG if self.button.pressed_now() else button.SHORT
        last = self.state.get("button")
        seconds = clock.local_seconds()
        if last is not None and 0 <= seconds - last < s.button_interval_s:
            self.app.log("mpaws: button: %s press ignored, %d s after the last notification "
                         "(CONFIG_BUTTON_MIN_INTERVAL_S = %s)" % (press, seconds - last, s.button_interval_s))
            return
        self.state.set("button", seconds)
        self._queue_press(press, now)

    def _connect_and_send(self):
        # One connection attempt (bounded by CONFIG_WIFI_TIMEOUT_S): on a battery, a
        # failure waits for the next wake-up, with the messages kept in the outbox.
        while True:
            self.watchdog.feed()
            now = self.ticks.ticks_ms()
            if self.station.poll(now):
                break
            if self.station.state == wifi.OFF or self.station.failures:
                return
            self.led.blink(now, 500)
            self.ticks.sleep_ms(LOOP_MS)
        self._sync_clock(now)
        self._send(now)


def _restart_after(app, ticks, e):
    """An error nothing caught: log it, note it in the RTC memory for status() after the
    restart, and restart the board rather than hang."""
    app.log("mpaws: uncaught %s: %s; restarting in %d s" % (type(e).__name__, e, CRASH_PAUSE_MS // 1000))
    board.print_exception(e)
    state = board.rtc_state()
    state.set("crash", ("%s: %s" % (type(e).__name__, e))[:120])
    state.save()
    ticks.sleep_ms(CRASH_PAUSE_MS)
    board.restart()


def _start_grace(app, ticks):
    """Waits CONFIG_START_DELAY_S before anything starts: a Ctrl-C in that time (mpremote's,
    after the reset that `make deploy` and the other board commands begin with, or a
    person's after pressing RST) stops main.py before the watchdog, which nothing stops
    once started, not even a soft reset. Not after a deep-sleep wake-up: a battery board
    would pay it on every wake."""
    seconds = app.config().check_board().start_delay_s
    if seconds and not board.woke_from_deep_sleep():
        app.log("mpaws: starting in %s s (Ctrl-C for the REPL)" % seconds)
        ticks.sleep_ms(int(seconds * 1000))


def main(app, ticks=None):
    """Runs the device application until a reset (or Ctrl-C at the REPL)."""
    if ticks is None:
        ticks = board.Clock()
    try:
        _start_grace(app, ticks)
        Device(app, ticks).run()
    except errors.ConfigError as e:
        # Restarting cannot fix config.py: stop, with the REPL free for `make provision`.
        app.log("mpaws: %s" % e)
        app.log("mpaws: stopped: fix config.py (`make provision`), then reset the board; Ctrl-C for the REPL")
        stopped(ticks)
    except Exception as e:  # anything else: restart rather than hang
        _restart_after(app, ticks, e)


STOPPED_BLINK_MS = 4000  # a slow blink: stopped, waiting for a fixed config.py


def stopped(ticks, turns=None):
    """Blinks the LED slowly (CONFIG_LED_PIN, if config.py got that far) until Ctrl-C or a
    reset, instead of restarting into the same error; returns at once where there is no
    LED. turns: how many 100 ms turns at most (tests)."""
    import sys

    config = sys.modules.get("config")
    pin = getattr(config, "CONFIG_LED_PIN", None)
    try:
        led = board.Led(pin if isinstance(pin, int) else None, getattr(config, "CONFIG_LED_ACTIVE_LOW", False) is True)
    except Exception:  # noqa: BLE001 -- the LED key may be the mistake: no blink, then
        return
    while led.pin is not None and (turns is None or turns > 0):
        led.blink(ticks.ticks_ms(), STOPPED_BLINK_MS)
        ticks.sleep_ms(100)
        if turns is not None:
            turns -= 1
