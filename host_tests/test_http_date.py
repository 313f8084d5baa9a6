"""mpaws.http_date against Python's own calendar: every real date parses to the seconds
datetime gives, no impossible one (31 Feb, 29 Feb of a common year, 25:00) parses, and
only dates from the firmware's year to 20 years on are plausible enough to set the clock."""
import calendar
import datetime
import random

from mpaws import clock, http_date

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _text(year, month, day, hour=12, minute=0, second=0):
    return "Mon, %02d %s %d %02d:%02d:%02d GMT" % (day, MONTHS[month - 1], year, hour, minute, second)


def test_real_dates_agree_with_datetime():
    rng = random.Random(7)
    for _ in range(2000):
        year, month = rng.randint(1970, 2200), rng.randint(1, 12)
        day = rng.randint(1, calendar.monthrange(year, month)[1])
        hour, minute, second = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
        expected = int(datetime.datetime(year, month, day, hour, minute, second,
                                         tzinfo=datetime.timezone.utc).timestamp())
        assert http_date.parse(_text(year, month, day, hour, minute, second)) == expected


def test_impossible_dates_do_not_parse():
    for year in range(1999, 2105):
        for month in range(1, 13):
            last = calendar.monthrange(year, month)[1]
            assert http_date.parse(_text(year, month, last)) is not None
            assert http_date.parse(_text(year, month, last + 1)) is None, (year, month, last + 1)
    for text in ("Mon, 01 Jan 2027 24:00:00 GMT", "Mon, 01 Jan 2027 10:60:00 GMT", "Mon, 01 Jan 2027 10:00 GMT",
                 "Mon, 00 Jan 2027 10:00:00 GMT", "Mon, 01 Foo 2027 10:00:00 GMT", "", "garbage", "1 2 3 4 5 6"):
        assert http_date.parse(text) is None, text


def test_only_plausible_dates_may_set_the_clock():
    assert http_date.plausible(_text(clock.MIN_VALID_YEAR, 1, 1, 0, 0, 0)) is not None
    assert http_date.plausible(_text(clock.MAX_VALID_YEAR, 12, 31, 23, 59, 59)) is not None
    for year in (1970, 2000, clock.MIN_VALID_YEAR - 1, clock.MAX_VALID_YEAR + 1, 2100, 99999):
        assert http_date.plausible(_text(year, 6, 1)) is None, year
