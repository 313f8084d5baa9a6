# The device's config module (config.py, copied from config_template.py), validated.
#
# Every key is checked before it is used; a problem raises one errors.ConfigError that
# names the key and says how to fix it. A secret is never part of a message or a repr.
# The checks live in mpaws.settings_aws (the AWS keys, the outbox) and
# mpaws.settings_board (WiFi, NTP, LED, button, sensor, deep sleep), each loaded for one
# check and forgotten after it (mpaws.transient): their code and messages, some KB, are
# not held while the device runs, and a notify never loads the board's.


def _check_with(name, s, module):
    from mpaws import transient

    try:
        getattr(__import__("mpaws." + name), name).check(s, module)
    finally:
        # settings_board loads settings_aws too; settings_aws loads function_name
        transient.forget("settings_aws", "settings_board", "config_errors", "function_name")


class Settings:
    """Validated configuration. Attributes mirror the CONFIG_* keys. board=False leaves the
    board's keys to check_board(), which the first read of one of them calls."""

    def __init__(self, module, board=True):
        _check_with("settings_aws", self, module)
        self._module = module  # for the board keys, until they are checked
        if board:
            self.check_board()

    def check_board(self):
        """Checks the board's keys (mpaws.settings_board) unless done; returns self."""
        module = self._module
        if module is not None:
            if module is _CONFIG:  # config.py, let go of after the AWS keys' check (load())
                module = _config()
            _check_with("settings_board", self, module)
            self._module = None
        return self

    def __getattr__(self, name):
        # secret_key, kept as _secret_key (out of vars()); a board key's attribute before
        # check_board(): the check sets them all.
        if name == "secret_key":
            return self._secret_key
        if name.startswith("_") or self._module is None:
            raise AttributeError(name)
        return getattr(self.check_board(), name)

    def __repr__(self):
        who = self.access_key if self.thing_name is None else "thing " + self.thing_name  # certificate auth
        return "<Settings %s %s function=%s host=%s:%d>" % (who, self.region, self.function, self.host, self.port)


def load(module=None):
    """Validated Settings from a config module, every key checked. Without one, config.py
    (`import config`), as the application reads it: the board's keys are then checked on
    first use (the device loop's start), so that a notify does not load their checks."""
    if module is not None:
        return Settings(module)
    import gc

    # The garbage of the imports goes first, so that what stays for the session (the
    # config, the settings, the outbox, the connection) fills the heap from the bottom.
    gc.collect()
    s = Settings(_config(), board=False)
    import sys

    if sys.implementation.name == "micropython":
        # The checked AWS keys are the Settings' own attributes now: on a device, the config
        # module (its globals, the board's values) is let go of until the board's check
        # imports it again. CPython keeps it, as it keeps what it loads.
        sys.modules.pop("config", None)
        s._module = _CONFIG
    return s


_CONFIG = "config.py"  # Settings._module: config.py, to be imported again for the board's check


def _config():
    try:
        import config  # type: ignore
    except Exception as e:  # noqa: BLE001 -- no config.py, a syntax error, a NameError, ...
        from mpaws import config_errors  # the failure's code, loaded for it only

        raise config_errors.broken(e)
    return config
