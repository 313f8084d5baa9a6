"""Simulated `dht` for host tests: a DHT22 reading simboard's temperature and humidity."""
from simboard import world


class DHTBase:
    def __init__(self, pin):
        self.pin = pin
        self.values = None

    def measure(self):
        world.sensor_reading()
        self.values = (world.temperature, world.humidity)


class DHT22(DHTBase):
    def temperature(self):
        return self.values[0]

    def humidity(self):
        return self.values[1]
