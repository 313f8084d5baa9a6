# Freezes the mpaws library into a custom MicroPython firmware (no .mpy files to copy, and
# the bytecode runs from flash, which leaves more heap for TLS):
#
#     make -C micropython/ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/mpaws/manifest.py
#
# FROZEN_MANIFEST replaces the board's own manifest; to keep asyncio, mip and the rest, use a
# manifest of your own with include("$(PORT_DIR)/boards/manifest.py") and include() of this file.
# The certificates (firmware/certs) still go to the board's /certs: `make deploy` copies them.
metadata(
    description="AWS Signature Version 4 and Lambda, SNS and IoT calls over verified TLS, for MicroPython",
    version="0.1.0",
    license="MIT",
)

package("mpaws", base_path="firmware/lib")
