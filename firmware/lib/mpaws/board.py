# The ESP32 board around the application: clock ticks, status LED, watchdog, the RTC
# memory that survives deep sleep, deep sleep itself and restarts.
#
# Every piece degrades to nothing where the board's modules are missing (CPython, the
# unix port), so the application runs unchanged on a computer.
import json
import sys
import time

from mpaws import http


class Clock:
    """Milliseconds for the main loop (time.ticks_ms; wraps around, compare with ticks_diff)."""

    def ticks_ms(self):
        return http.ticks_ms()

    def ticks_diff(self, a, b):
        return http.ticks_diff(a, b)

    def ticks_add(self, ticks, delta):
        return http.ticks_add(ticks, delta)

    def sleep_ms(self, ms):
        http.sleep_ms(ms)


def _machine():
    try:
        import machine

        return machine
    except ImportError:  # CPython
        return None


class Led:
    """The status LED (nothing when pin is None). blink(now, period_ms): on for half of
    every period; set(on): steady."""

    def __init__(self, pin, active_low=False):
        self.pin = None
        self.active_low = active_low
        self.lit = None
        machine = _machine()
        if pin is not None and machine is not None:
            self.pin = machine.Pin(pin, machine.Pin.OUT)
            self.set(False)

    def set(self, on):
        if self.pin is not None and on != self.lit:
            self.lit = on
            self.pin.value(1 if on != self.active_low else 0)

    def blink(self, now, period_ms):
        self.set(now % period_ms < period_ms // 2)


class Watchdog:
    """machine.WDT with a timeout in seconds; feed() at least that often or the board
    restarts. Nothing on a computer."""

    def __init__(self, seconds):
        self.wdt = None
        machine = _machine()
        try:
            if machine is not None:
                self.wdt = machine.WDT(timeout=int(seconds * 1000))
        except AttributeError:  # the unix port's machine has no WDT
            pass

    def feed(self):
        if self.wdt is not None:
            self.wdt.feed()


class RtcState:
    """A small dict kept in the RTC memory, which survives deep sleep and restarts (not a
    power cut): last NTP sync, sensor alarm, last button notification, last crash."""

    def __init__(self):
        self.rtc = None
        self.values = {}
        machine = _machine()
        try:
            if machine is not None:
                self.rtc = machine.RTC()
                data = self.rtc.memory()
                if data:
                    self.values = json.loads(data)
        except AttributeError:  # no RTC on this port: kept in RAM only
            self.rtc = None
        except ValueError:  # random content after a power-on
            self.values = {}
        if not isinstance(self.values, dict):
            self.values = {}

    def get(self, key, default=None):
        return self.values.get(key, default)

    def set(self, key, value):
        self.values[key] = value

    def save(self):
        if self.rtc is not None:
            self.rtc.memory(json.dumps(self.values).encode())


def woke_from_deep_sleep():
    machine = _machine()
    try:
        return machine is not None and machine.reset_cause() == machine.DEEPSLEEP_RESET
    except AttributeError:
        return False


def woken_by_button():
    machine = _machine()
    try:
        return woke_from_deep_sleep() and machine is not None and machine.wake_reason() == machine.EXT0_WAKE
    except AttributeError:
        return False


def deep_sleep(ms, wake_pin=None, active_low=True):
    """Deep sleep for ms (the board then starts again from boot.py); wake_pin also wakes it
    (ext0: an RTC GPIO, at its pressed level). Off the board: exits."""
    machine = _machine()
    try:
        import esp32

        if wake_pin is not None and machine is not None:
            level = esp32.WAKEUP_ALL_LOW if active_low else esp32.WAKEUP_ANY_HIGH
            pull = machine.Pin.PULL_UP if active_low else machine.Pin.PULL_DOWN
            esp32.wake_on_ext0(machine.Pin(wake_pin, machine.Pin.IN, pull), level)
    except ImportError:
        pass
    if machine is not None and hasattr(machine, "deepsleep"):
        machine.deepsleep(ms)
    sys.exit(0)


def restart():
    """machine.reset() on the board; off the board: exits with status 1."""
    machine = _machine()
    if machine is not None and hasattr(machine, "reset"):
        machine.reset()
    sys.exit(1)


_state = None


def rtc_state():
    """The one RtcState of this session (the device loop and the app share it: two would
    overwrite each other's keys)."""
    global _state
    if _state is None:
        _state = RtcState()
    return _state


def print_exception(e):
    if hasattr(sys, "print_exception"):
        sys.print_exception(e)
        return
    try:
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__)
    except ImportError:
        pass
