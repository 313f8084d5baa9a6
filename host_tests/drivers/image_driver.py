"""The board's start-up from a flash image, under the MicroPython unix port: mounts the
image's filesystem partition with MicroPython's own vfs.VfsLfs2 at "/" (as the ESP32's
_boot.py does, by vfs.mount's detection of the filesystem), then runs steps from it.

    micropython image_driver.py IMAGE OFFSET SIZE STEPS_FILE

IMAGE is the whole-flash image of tools/image.py; OFFSET and SIZE are its filesystem
partition's (from the partition table). The image and the steps are read first: then "/"
is the image's filesystem alone, as on the board. Each step prints one line `RESULT {...}`:
  {"op": "listdir", "path": "/lib/mpaws"}            -> {"ok": true, "names": [...]}
  {"op": "read", "path": "config.py"}                -> {"ok": true, "size": N, "sha256": "..."}
  {"op": "statvfs"}                                  -> {"ok": true, "statvfs": [...]}
  {"op": "notify", "subject": "...", "body": "..."}  -> import app; app.notify(...)
  {"op": "modules"}                                  -> {"ok": true, "files": {module: file}}
"""
import json
import sys

import vfs

BLOCK_SIZE = 4096  # esp32.Partition's block size


class FlashPartition:
    """A block device over one partition of the image's bytes, with the interface of the
    ESP32's esp32.Partition (the extended one littlefs uses: offsets within a block, erase)."""

    def __init__(self, data, offset, size):
        self.data = data
        self.offset = offset
        self.blocks = size // BLOCK_SIZE

    def readblocks(self, block, buf, off=0):
        start = self.offset + block * BLOCK_SIZE + off
        buf[:] = self.data[start:start + len(buf)]

    def writeblocks(self, block, buf, off=None):
        if off is None:  # the simple interface: erase, then write whole blocks
            for i in range(len(buf) // BLOCK_SIZE):
                self.ioctl(6, block + i)
            off = 0
        start = self.offset + block * BLOCK_SIZE + off
        # NOR flash programs only 1 -> 0: a write to bytes not erased would corrupt them.
        for i in range(len(buf)):
            self.data[start + i] &= buf[i]

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.blocks
        if op == 5:  # block size
            return BLOCK_SIZE
        if op == 6:  # erase a block
            start = self.offset + arg * BLOCK_SIZE
            self.data[start:start + BLOCK_SIZE] = b"\xff" * BLOCK_SIZE
            return 0
        if op in (1, 2, 3):  # init, deinit, sync
            return 0
        return None


def _sha256(data):
    import hashlib
    import binascii

    return binascii.hexlify(hashlib.sha256(data).digest()).decode()


def step(s):
    import os

    op = s["op"]
    if op == "listdir":
        return {"names": sorted(os.listdir(s["path"]))}
    if op == "read":
        with open(s["path"], "rb") as f:
            data = f.read()
        return {"size": len(data), "sha256": _sha256(data)}
    if op == "statvfs":
        return {"statvfs": list(os.statvfs("/"))}
    if op == "modules":
        out = {}
        for name, module in sys.modules.items():
            out[name] = getattr(module, "__file__", None)
        return {"files": out}
    if op == "notify":
        import app

        result = app.notify(s["subject"], s["body"])
        if isinstance(result, str) or result is None:
            return {"message_id": result}
        return {"status": result.status, "payload": bytes(result.payload).decode()}
    raise ValueError("unknown op " + op)


def main():
    image, offset, size, steps_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    with open(image, "rb") as f:
        f.seek(offset)
        data = bytearray(f.read(size))
    with open(steps_file) as f:
        steps = json.load(f)
    bdev = FlashPartition(data, 0, size)
    # As the ESP32's _boot.py: vfs.mount(bdev, "/") finds the LittleFS v2 superblock and
    # mounts it as VfsLfs2 (an empty or unknown partition would raise OSError here).
    vfs.umount("/")
    vfs.mount(bdev, "/")
    import os

    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib"]  # the ESP32's sys.path
    for s in steps:
        try:
            out = step(s)
            out["ok"] = True
        except Exception as e:  # reported, for the test to read
            out = {"error": type(e).__name__, "message": str(e)}
        print("RESULT " + json.dumps(out))
    mounts = [str(type(m[0]).__name__) + " " + m[1] for m in vfs.mount()]
    print("RESULT " + json.dumps({"ok": True, "mounts": mounts}))


main()
