"""The board's start-up from a flash image, under the MicroPython unix port: mounts the
image's filesystem partition with MicroPython's own vfs.VfsLfs2 at "/" (as the ESP32's
_boot.py does, by vfs.mount's detection of the filesystem), then runs steps from it.

    micropython image_driver.py IMAGE OFFSET SIZE STEPS_FILE

IMAGE is the whole-flash image of tools/image.py; OFFSET and SIZE are the filesystem
partition's the firmware uses at boot (its table's "vfs", or the one v1.26+ registers from
the end of the last partition to the end of the flash). The image file is read block by
block and never changed: what the run writes stays in memory. Each step prints one line
`RESULT {...}`:
  {"op": "listdir", "path": "/lib/mpaws"}            -> {"ok": true, "names": [...]}
  {"op": "read", "path": "config.py"}                -> {"ok": true, "size": N, "sha256": "..."}
  {"op": "walk"}                                     -> {"ok": true, "files": {path: [size, sha256]}}
  {"op": "statvfs"}                                  -> {"ok": true, "statvfs": [...]}
  {"op": "notify", "subject": "...", "body": "..."}  -> import app; app.notify(...)
  {"op": "modules", "names": [...]}                  -> {"ok": true, "files": {module: file}} (names: imported first)
  {"op": "mount", "size": N}                         -> the same filesystem as a partition of N
                                                        bytes (another flash size): VfsLfs2's answer
"""
import json
import sys

import vfs

BLOCK_SIZE = 4096  # esp32.Partition's block size


class FlashPartition:
    """A block device over one partition of the image file, with the interface of the
    ESP32's esp32.Partition (the extended one littlefs uses: offsets within a block, erase).
    Blocks written are kept in memory (a 16 MB image does not fit the heap)."""

    def __init__(self, image, offset, size):
        self.image = image
        self.offset = offset
        self.blocks = size // BLOCK_SIZE
        self.written = {}

    def _block(self, block):
        data = self.written.get(block)
        if data is None:
            self.image.seek(self.offset + block * BLOCK_SIZE)
            data = self.image.read(BLOCK_SIZE)
            data = data + b"\xff" * (BLOCK_SIZE - len(data))  # past the end of the image: erased flash
        return data

    def readblocks(self, block, buf, off=0):
        while len(buf):
            n = min(len(buf), BLOCK_SIZE - off)
            buf[:n] = self._block(block)[off:off + n]
            buf = memoryview(buf)[n:]
            block, off = block + 1, 0

    def writeblocks(self, block, buf, off=None):
        if off is None:  # the simple interface: erase, then write whole blocks
            for i in range(len(buf) // BLOCK_SIZE):
                self.ioctl(6, block + i)
            off = 0
        while len(buf):
            n = min(len(buf), BLOCK_SIZE - off)
            data = bytearray(self._block(block))
            # NOR flash programs only 1 -> 0: a write to bytes not erased would corrupt them.
            for i in range(n):
                data[off + i] &= buf[i]
            self.written[block] = data
            buf = memoryview(buf)[n:]
            block, off = block + 1, 0

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.blocks
        if op == 5:  # block size
            return BLOCK_SIZE
        if op == 6:  # erase a block
            self.written[arg] = b"\xff" * BLOCK_SIZE
            return 0
        if op in (1, 2, 3):  # init, deinit, sync
            return 0
        return None


def _sha256(data):
    import hashlib
    import binascii

    return binascii.hexlify(hashlib.sha256(data).digest()).decode()


def _walk(folder, files):
    import os

    for name, kind, *_ in os.ilistdir(folder or "/"):
        path = folder + "/" + name if folder else name
        if kind == 0x4000:
            _walk(path, files)
        else:
            with open("/" + path, "rb") as f:
                data = f.read()
            files[path] = [len(data), _sha256(data)]


def step(s):
    import os

    op = s["op"]
    if op == "listdir":
        return {"names": sorted(os.listdir(s["path"]))}
    if op == "read":
        with open(s["path"], "rb") as f:
            data = f.read()
        return {"size": len(data), "sha256": _sha256(data)}
    if op == "walk":
        files = {}
        _walk("", files)
        return {"files": files}
    if op == "mount":
        try:
            vfs.VfsLfs2(FlashPartition(IMAGE, OFFSET, s["size"]))
        except OSError as e:
            return {"mounted": False, "errno": e.errno}
        return {"mounted": True}
    if op == "statvfs":
        return {"statvfs": list(os.statvfs("/"))}
    if op == "modules":
        for name in s.get("names", ()):
            __import__(name)
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


IMAGE = OFFSET = None


def main():
    global IMAGE, OFFSET
    path, OFFSET, size, steps_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    IMAGE = open(path, "rb")
    with open(steps_file) as f:
        steps = json.load(f)
    bdev = FlashPartition(IMAGE, OFFSET, size)
    # As the ESP32's _boot.py: vfs.mount(bdev, "/") finds the LittleFS v2 superblock and
    # mounts it as VfsLfs2 (an empty or unknown partition, or a superblock with another
    # block count, would raise OSError here). The image file stays open: "/" is then the
    # image's filesystem alone, as on the board.
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
