"""Simulated `onewire` for host tests: a bus with one DS18X20 on it."""


class OneWireError(Exception):
    pass


class OneWire:
    def __init__(self, pin):
        self.pin = pin
