# The time AWS sees. SigV4 requests more than 5 minutes off AWS's clock are refused, and a
# board's clock starts at 2000-01-01 until NTP sets it. `offset` (seconds) is learnt from
# the Date header of a "Signature expired" reply and kept for later requests. NTP sets a
# board's clock: mpaws.wifi.sync_ntp, right after the WiFi connects (board-only code: not
# held here, where every request's signing date comes from).
#
# Dates are computed from time.gmtime() tuples with a calendar formula, never from the
# port's epoch (2000 on the ESP32, 1970 on unix), so the same code is right on both.
import time

from mpaws import sigv4

offset = 0  # seconds added to the local clock
MIN_VALID_YEAR = 2026  # the firmware's year: a clock (or a Date) before this is not set (or not true)
MAX_VALID_YEAR = MIN_VALID_YEAR + 20  # a Date after this is not believed


def days_from_civil(year, month, day):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def unix_seconds(t):
    """Seconds since 1970 of a (year, month, day, hour, minute, second, ...) UTC tuple."""
    return days_from_civil(t[0], t[1], t[2]) * 86400 + t[3] * 3600 + t[4] * 60 + t[5]


def local_seconds():
    """The local clock, as seconds since 1970, whatever the port's epoch."""
    return unix_seconds(time.gmtime(int(time.time())))


def now():
    """Local clock + learnt offset, in the port's own epoch (for time.gmtime())."""
    return int(time.time()) + offset


def amz_date():
    """X-Amz-Date for a request sent now."""
    return sigv4.amz_date(now())


def is_set():
    """Whether the clock looks set (NTP, RTC or a learnt offset), not at its power-on value."""
    return time.gmtime(now())[0] >= MIN_VALID_YEAR


def set_from(server):
    """Sets `offset` so that now() is `server` (seconds since 1970, a checked date: see
    http_date.plausible). Returns the offset."""
    global offset
    offset = server - local_seconds()
    return offset

