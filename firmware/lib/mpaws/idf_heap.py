# The ESP-IDF heap of an ESP32, outside MicroPython's gc heap, where mbedTLS allocates a TLS
# connection and the WiFi its buffers: its free bytes and largest free block, for
# app.status() (mpaws.status) and for the hint of a TLS handshake that failed
# (mpaws.network_errors). Loaded for the reading and let go of after it.


def free():
    """(free bytes, largest free block) of the ESP-IDF data heap, or None where the port
    has no esp32.idf_heap_info (not an ESP32)."""
    try:
        import esp32

        regions = esp32.idf_heap_info(esp32.HEAP_DATA)  # (total, free, largest free block, least free) each
    except (ImportError, AttributeError):
        return None
    return sum(r[1] for r in regions), max([r[2] for r in regions] or [0])
