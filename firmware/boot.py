# Runs first at every start (power-on, reset, wake from deep sleep). Kept minimal on
# purpose: a mistake here stops the board before the REPL; main.py runs the application.
import gc

gc.collect()
