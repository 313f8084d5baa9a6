"""The simulated ESP32 the firmware runs on in host tests: one world shared by the
simulated board modules in this directory (machine, network, ntptime, esp32, onewire,
ds18x20, dht), importable by MicroPython (the unix port) and CPython alike.

Time is virtual: the firmware's main loop gets `clock`, whose sleep_ms() moves the time
on and applies the scripted events that fall due on the way (a pin edge, the WiFi going
down, a new sensor value...). The run ends (EndOfRun) when the time reaches `end_ms`.
machine.reset() and machine.deepsleep() end it too (Reset, DeepSleep), and so does a
watchdog that was not fed in time (Reset with cause "watchdog"). What survives a reset
or a deep sleep (the RTC memory, the reset cause, the wake reason) is kept in STATE_FILE
in the current directory, for the next run: the next boot.

Events: [t_ms, kind, args...]
    ["pin", t, gpio, level]              a level change (IRQs fire on the edge)
    ["wifi", t, up]                      the access point comes and goes
    ["wifi_fail", t, count, status]      the next `count` connects fail with `status`
    ["adc", t, gpio, microvolts]
    ["temperature", t, celsius]          what the DS18X20 / DHT22 reads
    ["sensor_fault", t, name]            the next reading raises builtins.<name>
    ["sensor_delay", t, ms]              the next reading takes this long (virtual)
    ["ntp_fail", t, [hosts]]             these NTP hosts do not answer
    ["ctrl_c", t]                        Ctrl-C on the serial port: KeyboardInterrupt in
                                         whatever runs (mpremote sends it, or a person)
"""
import json

STATE_FILE = "sim_board.json"

# machine's constants, as on the ESP32
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
EXT0_WAKE = 2
EXT1_WAKE = 3
TIMER_WAKE = 4

STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_CONNECT_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204


class Reset(BaseException):
    """machine.reset(), or the watchdog: the board restarts."""

    def __init__(self, cause):
        super().__init__(cause)
        self.cause = cause


class DeepSleep(BaseException):
    def __init__(self, ms):
        super().__init__(ms)
        self.ms = ms


class EndOfRun(BaseException):
    """The scripted time is over."""


class World:
    def __init__(self):
        self.now = 0
        self.end_ms = None
        self.events = []
        self.pins = {}  # gpio -> level
        self.irqs = {}  # gpio -> (pin object, handler, trigger)
        self.adc_uv = {}
        self.temperature = 20.0
        self.humidity = 50.0
        self.sensor_faults = []
        self.sensor_delay_ms = 0
        self.wifi_up = True
        self.wifi_fail = 0
        self.wifi_fail_status = STAT_CONNECT_FAIL
        self.connect_ms = 300
        self.link = "idle"  # idle, connecting, connected
        self.link_since = 0
        self.connects = 0
        self.ntp_fail = []
        self.ntp_calls = []  # [t, host, answered]
        self.wdt_timeout = None
        self.wdt_fed_at = 0
        self.feeds = 0
        self.ext0 = None
        self.led = []  # [t, gpio, level] for output pins
        self.reset_cause = PWRON_RESET
        self.wake_reason = 0
        self.rtc_memory = b""
        self.unique_id = b"\x24\x0a\xc4\x12\x34\x56"
        # The ESP-IDF data heap (esp32.idf_heap_info): v1.26.1 after boot, two regions.
        self.idf_heap = [[98304, 30720, 28672, 24576], [32768, 5120, 4096, 4096]]

    # -- boots ---------------------------------------------------------------------

    def boot(self, wake=None):
        """Starts from what the last run left (STATE_FILE), or from a power-on."""
        try:
            with open(STATE_FILE) as f:
                saved = json.loads(f.read())
        except OSError:
            return
        self.reset_cause = saved["reset_cause"]
        self.wake_reason = saved["wake_reason"]
        self.rtc_memory = bytes(bytearray(saved["rtc_memory"]))
        if wake is not None and self.reset_cause == DEEPSLEEP_RESET:
            self.wake_reason = EXT0_WAKE if wake == "ext0" else TIMER_WAKE

    def save(self, cause, wake_reason=0):
        with open(STATE_FILE, "w") as f:
            f.write(json.dumps({"reset_cause": cause, "wake_reason": wake_reason,
                                "rtc_memory": list(self.rtc_memory)}))

    def reset(self, cause, why):
        self.save(cause)
        raise Reset(why)

    # -- time ------------------------------------------------------------------------

    def schedule(self, events):
        self.events = sorted(events, key=lambda e: e[0])

    def advance(self, ms):
        target = self.now + ms
        while self.events and self.events[0][0] <= target:
            event = self.events.pop(0)
            self._bite_before(event[0])
            self.now = max(self.now, event[0])
            self.apply(event)
        self._bite_before(target)
        self.now = target
        if self.end_ms is not None and self.now >= self.end_ms:
            raise EndOfRun()

    def _bite_before(self, t):
        # The watchdog resets the board the moment its timeout runs out unfed.
        if self.wdt_timeout is not None and t - self.wdt_fed_at > self.wdt_timeout:
            self.now = self.wdt_fed_at + self.wdt_timeout + 1
            self.reset(WDT_RESET, "watchdog")

    def apply(self, event):
        kind, args = event[1], event[2:]
        if kind == "pin":
            self.set_pin(args[0], args[1])
        elif kind == "wifi":
            self.wifi_up = bool(args[0])
            if not self.wifi_up and self.link == "connected":
                self.link = "idle"
        elif kind == "wifi_fail":
            self.wifi_fail, self.wifi_fail_status = args[0], args[1]
        elif kind == "adc":
            self.adc_uv[args[0]] = args[1]
        elif kind == "temperature":
            self.temperature = args[0]
        elif kind == "sensor_fault":
            self.sensor_faults.append(args[0])
        elif kind == "sensor_delay":
            self.sensor_delay_ms = args[0]
        elif kind == "ntp_fail":
            self.ntp_fail = list(args[0])
        elif kind == "ctrl_c":
            raise KeyboardInterrupt()
        else:
            raise ValueError("unknown event %r" % (event,))

    # -- pins ------------------------------------------------------------------------

    def set_pin(self, gpio, level):
        old = self.pins.get(gpio)
        self.pins[gpio] = level
        if gpio in self.irqs and old is not None and old != level:
            pin, handler, trigger = self.irqs[gpio]
            if (level == 0 and trigger & 2) or (level == 1 and trigger & 1):  # IRQ_FALLING = 2, IRQ_RISING = 1
                handler(pin)

    def sensor_reading(self):
        """Called by a simulated sensor: applies the scripted delay and faults."""
        if self.sensor_delay_ms:
            delay, self.sensor_delay_ms = self.sensor_delay_ms, 0
            self.advance(delay)
        if self.sensor_faults:
            name = self.sensor_faults.pop(0)
            raise _builtin(name)("simulated sensor fault")

    # -- WiFi -------------------------------------------------------------------------

    def wifi_connect(self):
        self.connects += 1
        self.link = "connecting"
        self.link_since = self.now
        self.link_fails = self.wifi_fail > 0
        if self.link_fails:
            self.wifi_fail -= 1

    def wifi_status(self):
        if self.link == "connecting" and self.now - self.link_since >= self.connect_ms:
            if self.link_fails:
                self.link = "failed:%d" % self.wifi_fail_status
            elif not self.wifi_up:
                self.link = "failed:%d" % STAT_NO_AP_FOUND
            else:
                self.link = "connected"
        if self.link == "connected":
            return STAT_GOT_IP
        if self.link == "connecting":
            return STAT_CONNECTING
        if self.link.startswith("failed:"):
            return int(self.link[7:])
        return STAT_IDLE


def _builtin(name):
    import builtins

    return getattr(builtins, name)


world = World()


class Clock:
    """The loop's clock (board.Clock's interface), on the world's virtual time."""

    def ticks_ms(self):
        return world.now

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, ticks, delta):
        return ticks + delta

    def sleep_ms(self, ms):
        world.advance(ms)


clock = Clock()
