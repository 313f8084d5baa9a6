# The device's state for app.status(): WiFi, time, outbox, last error, and the heap --
# MicroPython's gc heap, and on an ESP32 the ESP-IDF heap that mbedTLS and the WiFi
# allocate from (mpaws.idf_heap). Loaded for the call and forgotten after it; `app` is the
# application module (app.py), passed in.
import gc
import time

from mpaws import clock, transient

HEAP_KEYS = ("heap_free", "idf_heap_free", "idf_heap_largest")
KEYS = ("device", "wifi", "time", "clock_set", "outbox", "set_aside", "sent_not_removed", "refused", "last_error") + HEAP_KEYS


def _wifi_status():
    try:
        import network
    except ImportError:
        return "no WiFi interface here (the host's network is used)"
    wlan = network.WLAN(network.STA_IF)
    if wlan.isconnected():
        from mpaws import wifi

        return "connected, address %s" % wifi.address(wlan)
    return "not connected (status %s)" % wlan.status()


def status(app):
    """app.status(): see its docstring. heap_free: the gc heap's free bytes after a
    collection (None on CPython); idf_heap_free, idf_heap_largest: the ESP-IDF data heap's
    free bytes and largest free block (None where there is no esp32.idf_heap_info)."""
    try:
        t = time.gmtime(clock.now())
        info = {
            "device": app.device_id(),
            "wifi": _wifi_status(),
            "time": "%04d-%02d-%02d %02d:%02d:%02d UTC" % t[:6],
            "clock_set": clock.is_set(),
            "outbox": len(app.outbox()),
            "set_aside": len(app.outbox().aside),  # too large to read in this heap: kept for a restart
            "sent_not_removed": len(app._sent),
            "refused": app.refused,
            "last_error": app.last_error,
        }
        gc.collect()
        info["heap_free"] = gc.mem_free() if hasattr(gc, "mem_free") else None
        from mpaws import idf_heap  # read once: not held after

        try:
            idf = idf_heap.free()
        finally:
            transient.forget("idf_heap")
        info["idf_heap_free"], info["idf_heap_largest"] = idf or (None, None)
    except MemoryError as e:  # an unreadable outbox: outbox()'s errors.OutboxError
        raise app._undelivered().as_aws_error(e)
    for key in KEYS:
        if info[key] is not None or key not in HEAP_KEYS:  # no heap figures on CPython
            app.log("%s: %s" % (key, info[key]))
    return info
