# Runs the device application (app.py, mpaws/device.py) at every start, after boot.py.
# It first waits CONFIG_START_DELAY_S ("mpaws: starting in 3 s"): a Ctrl-C then gives the
# REPL with no watchdog running. A Ctrl-C later stops it too, but the watchdog keeps
# running (even through a soft reset) and restarts the board CONFIG_WATCHDOG_S later.
import app
from mpaws import device

device.main(app)
