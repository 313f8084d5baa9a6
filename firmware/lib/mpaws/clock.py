# The time AWS sees. SigV4 requests more than 5 minutes off AWS's clock are refused, and a
# board's clock starts at 2000-01-01 until NTP sets it. `offset` (seconds) is learnt from
# the Date header of a "Signature expired" reply and kept for later requests. NTP sets a
# board's clock: mpaws.wifi.sync_ntp, right after the WiFi connects (board-only code: not
# held here, where every request's signing date comes from).
#
# Dates are computed from time.gmtime() tuples with a calendar formula (mpaws.calendar,
# reached as clock.days_from_civil, clock.unix_seconds, clock.local_seconds), never from the
# port's epoch (2000 on the ESP32, 1970 on unix), so the same code is right on both.
import time

from mpaws import sigv4

offset = 0  # seconds added to the local clock
MIN_VALID_YEAR = 2026  # the firmware's year: a clock (or a Date) before this is not set (or not true)
MAX_VALID_YEAR = MIN_VALID_YEAR + 20  # a Date after this is not believed


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
    from mpaws import calendar

    offset = server - calendar.local_seconds()
    return offset


def __getattr__(name):
    # days_from_civil, unix_seconds and local_seconds are mpaws.calendar's, loaded on their
    # first use (a Date header, credentials' expiry, NTP, the device loop): a notify that
    # only signs holds none of their code. Not kept as this module's names: a function kept
    # here would hold calendar's code for good, after a credentials fetch let go of it.
    if name.startswith("_"):
        raise AttributeError(name)
    from mpaws import calendar

    return getattr(calendar, name)
