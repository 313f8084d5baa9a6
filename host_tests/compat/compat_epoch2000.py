"""The ESP32's time epoch up to v1.24 at least: time.time() is an int of seconds since
2000-01-01, and gmtime/localtime/mktime count from there. The host's clock underneath."""
import sys

import compat

_time = compat.real("time")
EPOCH_2000 = 946684800  # 2000-01-01 in seconds since 1970

sleep = _time.sleep
sleep_ms = _time.sleep_ms
sleep_us = _time.sleep_us
ticks_ms = _time.ticks_ms
ticks_us = _time.ticks_us
ticks_cpu = _time.ticks_cpu
ticks_add = _time.ticks_add
ticks_diff = _time.ticks_diff


def time():
    return int(_time.time()) - EPOCH_2000


def time_ns():
    return _time.time_ns() - EPOCH_2000 * 1000000000


def gmtime(secs=None):
    return _time.gmtime((time() if secs is None else int(secs)) + EPOCH_2000)


def localtime(secs=None):
    return gmtime(secs)  # the ESP32 has no time zone


def mktime(t):
    return _time.mktime(t) - EPOCH_2000


compat.replace("time", sys.modules[__name__])
compat.imposed.append("epoch2000")
