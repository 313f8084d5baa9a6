"""Simulated `esp32` for host tests: records the deep-sleep wake-up source."""
from simboard import world

WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True


def wake_on_ext0(pin, level):
    world.ext0 = [pin.id if pin is not None else None, level]
