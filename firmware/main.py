# Runs the device application (app.py, mpaws/device.py) at every start, after boot.py.
# Ctrl-C at the REPL stops it; the watchdog then restarts the board CONFIG_WATCHDOG_S later.
import app
from mpaws import device

device.main(app)
