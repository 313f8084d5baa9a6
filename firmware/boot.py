# Runs first at every start (power-on, reset, wake from deep sleep) and at every soft
# reset, also the one mpremote makes before its first command (which does not run
# main.py). Kept minimal on purpose: a mistake here stops the board before the REPL;
# main.py runs the application.
import gc

gc.collect()
