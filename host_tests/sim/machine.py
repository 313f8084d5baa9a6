"""Simulated `machine` for host tests (see simboard.py): Pin with IRQs, ADC, WDT, RTC,
reset/deepsleep (which end the run), reset_cause, wake_reason, unique_id."""
from simboard import (DEEPSLEEP_RESET, EXT0_WAKE, EXT1_WAKE, HARD_RESET, PWRON_RESET, SOFT_RESET,  # noqa: F401
                      TIMER_WAKE, WDT_RESET, DeepSleep, world)


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self.pull = pull
        if id not in world.pins:
            world.pins[id] = 1 if pull == Pin.PULL_UP else 0
        if value is not None:
            self.value(value)

    def value(self, *level):
        if not level:
            return world.pins[self.id]
        world.pins[self.id] = 1 if level[0] else 0
        if self.mode == Pin.OUT:
            world.led.append([world.now, self.id, world.pins[self.id]])
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING, **kwargs):
        world.irqs[self.id] = (self, handler, trigger)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        self.gpio = pin.id

    def atten(self, value):
        pass

    def read_uv(self):
        world.sensor_reading()
        return world.adc_uv.get(self.gpio, 0)


class WDT:
    def __init__(self, id=0, timeout=5000):
        world.wdt_timeout = timeout
        world.wdt_fed_at = world.now

    def feed(self):
        world.feeds += 1
        world.wdt_fed_at = world.now


class RTC:
    def memory(self, *data):
        if not data:
            return world.rtc_memory
        if len(data[0]) > 2048:
            raise ValueError("RTC memory holds 2048 bytes")
        world.rtc_memory = bytes(data[0])
        return None

    def datetime(self, *args):
        import time

        return time.gmtime()[:3] + (0,) + time.gmtime()[3:6] + (0,)


def unique_id():
    return world.unique_id


def reset_cause():
    return world.reset_cause


def wake_reason():
    return world.wake_reason


def reset():
    world.reset(HARD_RESET, "machine.reset()")


def soft_reset():
    world.reset(SOFT_RESET, "machine.soft_reset()")


def deepsleep(ms=0):
    world.save(DEEPSLEEP_RESET, TIMER_WAKE)  # the next boot; a test may say it was the button
    raise DeepSleep(ms)


def idle():
    pass
