"""A config.py the board can't use stops the device loop (device.main) with its log line
and a slow LED blink, instead of restarting into the same error (a reboot loop)."""
import sys
import types

from mpaws import device, errors


class _Ticks:
    def __init__(self):
        self.now = 0

    def ticks_ms(self):
        return self.now

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, a, b):
        return a + b

    def sleep_ms(self, ms):
        self.now += ms


def _machine(levels):
    class Pin:
        OUT = 3

        def __init__(self, pin, mode=None):
            self.pin = pin

        def value(self, level):
            levels.append(level)

    return types.SimpleNamespace(Pin=Pin)


def test_stopped_blinks_slowly_the_configured_led(monkeypatch):
    levels = []
    monkeypatch.setitem(sys.modules, "machine", _machine(levels))
    monkeypatch.setitem(sys.modules, "config", types.SimpleNamespace(CONFIG_LED_PIN=2, CONFIG_LED_ACTIVE_LOW=False))
    device.stopped(_Ticks(), turns=200)  # 20 s of 100 ms turns
    changes = [b for a, b in zip(levels, levels[1:]) if a != b]
    assert 8 <= len(changes) <= 12, levels  # a change every 2 s: on 2 s, off 2 s


def test_stopped_returns_where_there_is_no_led(monkeypatch):
    levels = []
    monkeypatch.setitem(sys.modules, "machine", _machine(levels))
    for config in (None, types.SimpleNamespace(CONFIG_LED_PIN=None), types.SimpleNamespace(CONFIG_LED_PIN="2")):
        if config is None:
            monkeypatch.delitem(sys.modules, "config", raising=False)
        else:
            monkeypatch.setitem(sys.modules, "config", config)
        ticks = _Ticks()
        device.stopped(ticks, turns=5)  # with an LED it would turn 5 times, 100 ms each
        assert ticks.now == 0, config  # returned at once: no turn was waited
        assert levels == [], config  # and no pin was driven


def test_main_stops_on_a_config_error_instead_of_restarting(monkeypatch):
    restarted = []
    monkeypatch.setattr(device.board, "restart", lambda: restarted.append(True))
    monkeypatch.delitem(sys.modules, "config", raising=False)
    logged = []

    def config():
        raise errors.ConfigError("config.py, line 3: SyntaxError, not valid Python")

    app = types.SimpleNamespace(config=config, log=logged.append)
    device.main(app, _Ticks())
    assert not restarted
    assert logged[0] == "mpaws: config.py, line 3: SyntaxError, not valid Python"
    assert "stopped: fix config.py" in logged[1]
