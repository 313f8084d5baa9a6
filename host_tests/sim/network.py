"""Simulated `network` for host tests (see simboard.py): a WLAN station whose access point
comes and goes, and whose connects can be made to fail."""
from simboard import (STAT_CONNECT_FAIL, STAT_CONNECTING, STAT_GOT_IP, STAT_HANDSHAKE_TIMEOUT,  # noqa: F401
                      STAT_IDLE, STAT_NO_AP_FOUND, STAT_WRONG_PASSWORD, world)

STA_IF = 0
AP_IF = 1


class WLAN:
    def __init__(self, interface=STA_IF):
        self.interface = interface
        self._active = False

    def active(self, *state):
        if not state:
            return self._active
        self._active = bool(state[0])
        return None

    def connect(self, ssid=None, key=None, **kwargs):
        if not self._active:
            raise OSError("Wifi Not Started")
        world.wifi_connect()

    def disconnect(self):
        world.link = "idle"

    def isconnected(self):
        return world.wifi_status() == STAT_GOT_IP

    def status(self, *param):
        if param:
            return -60  # rssi
        return world.wifi_status()

    def ifconfig(self, *config):
        return ("192.168.4.2", "255.255.255.0", "192.168.4.1", "192.168.4.1")

    def config(self, *args, **kwargs):
        return None
