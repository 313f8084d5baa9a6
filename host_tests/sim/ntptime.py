"""Simulated `ntptime` for host tests (see simboard.py): settime() records the call, and
fails (OSError ETIMEDOUT) without WiFi or for a host told not to answer."""
from simboard import world

host = "pool.ntp.org"
timeout = 1


def settime():
    answered = world.link == "connected" and host not in world.ntp_fail
    world.ntp_calls.append([world.now, host, answered])
    if not answered:
        raise OSError(110)  # ETIMEDOUT, as the real module's socket raises


def time():
    import time as _time

    return int(_time.time())
