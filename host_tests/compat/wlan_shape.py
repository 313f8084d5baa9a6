"""Shared by the WLAN shapes: a `network` module over the simulated board's (host_tests/
sim/network.py) whose WLAN has only the methods a shape gives it."""
import compat

_sim = compat.real("network")


class Module:
    """A stand-in `network` module: the sim's constants, minus those a shape drops."""

    def __init__(self, wlan_class, drop=(), add=()):
        for name in dir(_sim):
            if name.startswith("STA") or name.startswith("AP_"):
                setattr(self, name, getattr(_sim, name))
        for name in drop:
            delattr(self, name)
        for name, value in add:
            setattr(self, name, value)
        self.WLAN = wlan_class


class WLANBase:
    def __init__(self, interface=0):
        self._wlan = _sim.WLAN(interface)

    def active(self, *state):
        return self._wlan.active(*state)

    def connect(self, *args, **kwargs):
        return self._wlan.connect(*args, **kwargs)

    def disconnect(self):
        return self._wlan.disconnect()

    def isconnected(self):
        return self._wlan.isconnected()

    def status(self, *param):
        return self._wlan.status(*param)

    def config(self, *args, **kwargs):
        return self._wlan.config(*args, **kwargs)
