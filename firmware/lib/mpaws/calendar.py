# Calendar dates as seconds since 1970, from time.gmtime() tuples with a calendar formula,
# never from the port's epoch (2000 on the ESP32, 1970 on unix): the same code is right on
# both. Loaded where a date becomes seconds (a reply's Date header, temporary credentials'
# expiry, NTP and the device loop's schedule): a notify that only signs does without it.
import time


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
