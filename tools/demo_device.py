# The device side of `make demo` (tools/demo.py): runs the firmware's app.notify() the way
# a board does, under the MicroPython unix port or CPython.
#
#     micropython tools/demo_device.py CONFIG_DIR FIRMWARE_DIR SUBJECT BODY [COUNT]
#
# CONFIG_DIR holds config.py; FIRMWARE_DIR is firmware/ (app.py, lib/mpaws). With COUNT,
# notify() is called COUNT times on one connection and the last line printed is
# "burst: COUNT notifies in MS ms" (timed inside the device, without its start-up).
import sys
import time


def _ms():
    if hasattr(time, "ticks_ms"):
        return time.ticks_ms()
    return int(time.perf_counter() * 1000)


def main(argv):
    config_dir, firmware, subject, body = argv[1], argv[2], argv[3], argv[4]
    count = int(argv[5]) if len(argv) > 5 else 0
    if sys.implementation.name == "micropython":
        sys.path[:] = [config_dir, firmware, firmware + "/lib", ".frozen"]  # .frozen: ssl and the frozen stdlib
    else:
        sys.path[:1] = [config_dir, firmware, firmware + "/lib"]  # instead of tools/
    import app

    try:
        if not count:
            app.notify(subject, body)
            return 0
        started = _ms()
        for i in range(count):
            app.notify(subject, "%s #%d" % (body, i + 1))
        print("burst: %d notifies in %d ms" % (count, _ms() - started))
    except Exception as e:  # the exit status says so
        failed = "notify failed: %s: %s" % (type(e).__name__, e)
        if app.last_error != failed:  # notify() logs what AWS answered ("mpaws: notify failed: ..."), not the rest
            print(failed)
        return 1
    return 0


sys.exit(main(sys.argv))
