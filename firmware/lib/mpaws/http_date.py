# HTTP dates ('Tue, 11 Jun 2019 05:58:19 GMT') as seconds since 1970, checked: the Date of
# a clock-skew reply (mpaws.client) and of the credentials provider's reply
# (mpaws.credentials_fetch). Loaded by those, when they need it, and only then.
from mpaws import clock

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

# const(): written into the bytecode, not kept as names in the heap.
_MONTHS = const(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"))
_DAYS = const((31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31))


def valid_time(t):
    """Whether t, (year, month, day, hour, minute, second), is a real UTC date and time
    (31 Feb is not). One tuple: parameter names would stay in the heap as names."""
    year, month, day, hour, minute, second = t
    if not 1 <= month <= 12 or not 1 <= day <= _DAYS[month - 1] or not 0 <= hour < 24 or not 0 <= minute < 60:
        return False
    if month == 2 and day == 29 and (year % 4 or (year % 100 == 0 and year % 400)):
        return False
    return 0 <= second <= 60  # 60: a leap second


def parse(text):
    """Seconds since 1970 of an HTTP date ('Tue, 11 Jun 2019 05:58:19 GMT'), or None when
    it is not one, or not a real date and time."""
    parts = text.replace(",", " ").split()
    # [weekday] day month year hh:mm:ss GMT
    if len(parts) >= 5 and parts[1] in _MONTHS:
        pass
    elif len(parts) >= 6 and parts[2] in _MONTHS:
        parts = parts[1:]
    else:
        return None
    try:
        hms = parts[3].split(":")
        t = (int(parts[2]), _MONTHS.index(parts[1]) + 1, int(parts[0]), int(hms[0]), int(hms[1]), int(hms[2]))
    except (ValueError, IndexError):
        return None
    if len(hms) != 3 or not valid_time(t):
        return None
    return clock.unix_seconds(t)


def plausible(text):
    """Seconds since 1970 of an HTTP date that is a real date from clock.MIN_VALID_YEAR
    (the firmware's) to clock.MAX_VALID_YEAR, or None: nothing else may set the clock (a
    hostile or broken Date would otherwise reach time.gmtime())."""
    server = parse(text)
    if server is None or not clock.days_from_civil(clock.MIN_VALID_YEAR, 1, 1) * 86400 <= server:
        return None
    return server if server < clock.days_from_civil(clock.MAX_VALID_YEAR + 1, 1, 1) * 86400 else None
