"""Simulated `ds18x20` for host tests: one sensor reading simboard's temperature. Read
before its 750 ms conversion is over, it returns 85.0, like the real one at power-on."""
from simboard import world

ROM = bytearray(b"\x28\xff\x64\x1e\x0c\x00\x00\x5a")


class DS18X20:
    def __init__(self, onewire):
        self.ow = onewire
        self.converted_at = None

    def scan(self):
        return [ROM]

    def convert_temp(self):
        self.converted_at = world.now

    def read_temp(self, rom):
        world.sensor_reading()
        if self.converted_at is None or world.now - self.converted_at < 750:
            return 85.0
        return world.temperature
