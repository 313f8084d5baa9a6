"""Simulated `esp32` for host tests: records the deep-sleep wake-up source, and reports
the ESP-IDF heap the world sets (world.idf_heap: [(total, free, largest free block, least
free)] per region, as esp32.idf_heap_info gives them)."""
from simboard import world

WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True
HEAP_DATA = 4
HEAP_EXEC = 1


def wake_on_ext0(pin, level):
    world.ext0 = [pin.id if pin is not None else None, level]


def idf_heap_info(capabilities):
    return [tuple(region) for region in world.idf_heap] if capabilities == HEAP_DATA else []
