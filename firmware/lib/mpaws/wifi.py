# The WiFi station: connects with backoff, notices a lost connection and reconnects.
# poll() never blocks, so the main loop keeps serving the button and the watchdog while
# the access point is away. Where there is no `network` module (a computer), the host's
# own network is used and the station counts as connected. connect_now() is the blocking
# variant for app.notify() and app.flush() called from the REPL, when main.py is not running
# (online(): then the clock is set by NTP too, sync_ntp()).
from mpaws import errors

POLL_MS = 50  # connect_now(): how often the station is asked while it connects
FIRST_BACKOFF_MS = 2000
MAX_BACKOFF_MS = 120000

HOST = "host"  # no WiFi interface: the computer's network
OFF = "off"  # no CONFIG_WIFI_SSID
CONNECTING = "connecting"
CONNECTED = "connected"
WAITING = "waiting"  # after a failure, until the backoff is over


def address(wlan):
    """The station's IPv4 address."""
    if hasattr(wlan, "ipconfig"):  # v1.24 and later; ifconfig() is deprecated there
        return wlan.ipconfig("addr4")[0]
    return wlan.ifconfig()[0]


class Station:
    def __init__(self, ssid, password, timeout_s, clock, log, note_error):
        self.note_error = note_error  # logs a failure and keeps it for app.status()
        self.ssid = ssid
        self.password = password
        self.timeout_ms = int(timeout_s * 1000)
        self.clock = clock
        self.log = log
        self.wlan = None
        self.since = clock.ticks_ms()  # when the current state began (ticks wrap: not 0)
        self.wait_ms = 0
        self.backoff_ms = FIRST_BACKOFF_MS
        self.failures = 0  # failed attempts in a row
        self.reason = None  # why the last attempt failed, naming the config key to check
        try:
            import network
        except ImportError:
            self.network = None
            self.state = HOST
            return
        self.network = network
        if not ssid:
            self.state = OFF
            self.reason = "CONFIG_WIFI_SSID is not set in config.py"
            note_error("WiFi: CONFIG_WIFI_SSID is not set, so no network: set it in config.py")
            return
        self.wlan = network.WLAN(network.STA_IF)
        self.wlan.active(True)
        self.state = WAITING  # the first poll connects

    @property
    def connected(self):
        return self.state == CONNECTED or self.state == HOST

    def poll(self, now):
        """Advances the connection; returns whether the station is connected."""
        state = self.state
        if state == HOST:
            return True
        if state == OFF:
            return False
        elapsed = self.clock.ticks_diff(now, self.since)
        if state == CONNECTED:
            if self.wlan.isconnected():
                return True
            self.log("mpaws: WiFi: connection to %r lost; reconnecting" % self.ssid)
            self._start(now)
        elif state == CONNECTING:
            if self.wlan.isconnected():
                self.log("mpaws: WiFi: connected to %r, address %s, in %d ms" % (self.ssid, address(self.wlan),
                                                                                  elapsed))
                self.state = CONNECTED
                self.since = now
                self.failures = 0
                self.backoff_ms = FIRST_BACKOFF_MS
                return True
            reason = self._failure(self.wlan.status())
            if reason is None and elapsed >= self.timeout_ms:
                reason = "no connection to %r within %d s (CONFIG_WIFI_TIMEOUT_S)" % (self.ssid,
                                                                                      self.timeout_ms // 1000)
            if reason is not None:
                self._fail(now, reason)
        elif elapsed >= self.wait_ms:
            self._start(now)
        return False

    def _failure(self, status):
        network = self.network
        if status == network.STAT_WRONG_PASSWORD:
            return "wrong password for %r: check CONFIG_WIFI_PASSWORD" % self.ssid
        if status == network.STAT_NO_AP_FOUND:
            return "no access point named %r in range: check CONFIG_WIFI_SSID (the ESP32 has 2.4 GHz only)" % self.ssid
        # Older ports (v1.22, v1.24) name status 203 STAT_ASSOC_FAIL only; later ones both.
        connect_fail = getattr(network, "STAT_CONNECT_FAIL", getattr(network, "STAT_ASSOC_FAIL", None))
        if status in (connect_fail, network.STAT_HANDSHAKE_TIMEOUT):
            return "connection to %r failed (status %d)" % (self.ssid, status)
        return None

    def _start(self, now):
        self.state = CONNECTING
        self.since = now
        try:
            if self.wlan.isconnected():
                self.wlan.disconnect()
            self.wlan.connect(self.ssid, self.password)
        except OSError as e:  # "Wifi Internal Error" and the like
            self._fail(now, "cannot start connecting to %r: %s" % (self.ssid, e))
            return
        self.log("mpaws: WiFi: connecting to %r" % self.ssid)

    def _fail(self, now, reason):
        self.failures += 1
        self.reason = reason
        self.state = WAITING
        self.since = now
        self.wait_ms = self.backoff_ms
        self.backoff_ms = min(self.backoff_ms * 2, MAX_BACKOFF_MS)
        self.note_error("WiFi: %s; trying again in %d s" % (reason, self.wait_ms // 1000))
        try:
            self.wlan.disconnect()  # stop the driver's own attempts until the next one
        except OSError:
            pass


def _quiet(text):
    pass  # connect_now() raises the failure instead: no "trying again" log line


def connect_now(ssid, password, timeout_s, clock=None, log=print, feed=None):
    """One bounded connection attempt (timeout_s, CONFIG_WIFI_TIMEOUT_S), waiting for it:
    returns True when it connected the station now, False when the station was connected
    already or there is no WiFi interface (a computer); raises errors.NetworkError, naming
    the config keys to check, when it could not connect. clock: the ticks to wait on
    (board.Clock by default); feed: called while waiting (a watchdog)."""
    try:
        import network
    except ImportError:
        return False
    if network.WLAN(network.STA_IF).isconnected():
        return False
    if clock is None:
        from mpaws import board

        clock = board.Clock()
    station = Station(ssid, password, timeout_s, clock, log, _quiet)
    while not station.poll(clock.ticks_ms()):
        if station.state == OFF or station.failures:
            reason = station.reason
            if "CONFIG_WIFI_SSID" not in reason and "CONFIG_WIFI_PASSWORD" not in reason:
                reason += "; check CONFIG_WIFI_SSID and CONFIG_WIFI_PASSWORD in config.py"
            raise errors.NetworkError("no WiFi: " + reason)
        if feed is not None:
            feed()
        clock.sleep_ms(POLL_MS)
    return True


def sync_ntp(hosts, attempts=3, log=None):
    """Sets the board's clock with NTP, trying each host in turn, `attempts` rounds.
    Returns the host that answered; raises OSError when none did."""
    import ntptime  # the board's module; the host never calls this
    import time

    from mpaws import clock

    error = None
    for _ in range(attempts):
        for host in hosts:
            if error is not None:
                time.sleep(1)  # a pause between tries; none after the last: the caller hears at once
            try:
                ntptime.host = host
                ntptime.settime()
                clock.offset = 0  # NTP time is AWS's: nothing learnt from a reply applies any more
                return host
            except (OSError, OverflowError, IndexError) as e:
                error = e
                if log:
                    log("mpaws: NTP from %s failed: %s" % (host, e))
    raise OSError("no NTP server answered (%s): check the WiFi and CONFIG_NTP_HOSTS" % (error,))


def online(app, feed=None):
    """app._online() on a board: connects the WiFi when it is down (connect_now(), with the
    app's config, clock and log), then sets the clock by NTP if it is not set."""
    s = app.config()
    from mpaws import clock

    if connect_now(s.wifi_ssid, s.wifi_password, s.wifi_timeout_s, app.ticks, app.log, feed) and not clock.is_set():
        try:
            app.log("mpaws: clock set by NTP from %s" % sync_ntp(s.ntp_hosts, 1, app.log))
        except OSError as e:  # AWS's reply sets the client's clock instead (one more request)
            app.note_error("%s; sending anyway" % e)
