"""One flash image per device: MicroPython's firmware .bin, plus the board's filesystem
partition already holding what `make deploy` copies (and config.py with CONFIG=), written
by one esptool command at flash offset 0x0. The Makefile's image targets call it.

    python tools/image.py build --firmware ESP32_GENERIC-<date>-v1.xx.bin [--config PATH] [--out device.bin]
    python tools/image.py [--dry-run] flash --port PORT --image device.bin [--baud N]

The layout comes from the firmware itself: its chip (image header), where the .bin goes
(board.FLASH_OFFSETS), its partition table (at flash 0x8000, inside the .bin), and from
that table the data partition MicroPython mounts as its filesystem: the one labelled
"vfs" (ports/esp32/modules/flashbdev.py). That partition is filled with a LittleFS v2
filesystem of the geometry MicroPython's vfs.VfsLfs2 uses on the ESP32 (LFS_GEOMETRY), so
that the board mounts it at its first start instead of formatting it.

An image made with CONFIG= holds that config's secrets: it is written mode 600, the
output says so, and no value of the config is ever printed (problems name the key).
"""
import argparse
import hashlib
import os
import struct
import sys

import board
from board import BoardError, note, shown

FIRMWARE_DOWNLOADS = board.DOWNLOADS
DEFAULT_OUT = os.path.join(board.REPO, "build", "image", "device.bin")

# -- The partition table (ESP-IDF's format, components/partition_table/gen_esp32part.py) --
# At flash offset 0x8000 (CONFIG_PARTITION_TABLE_OFFSET, MicroPython's for every ESP32
# chip), at most 0xC00 bytes: 32-byte entries "<2sBBII16sI" (magic AA 50, type, subtype,
# offset, size, label, flags), then an optional MD5 entry (EB EB, 14 bytes 0xFF, the MD5
# of the entries before it), then 0xFF.
PARTITION_TABLE_OFFSET = 0x8000
PARTITION_TABLE_SIZE = 0xC00
ENTRY = struct.Struct("<2sBBII16sI")
ENTRY_MAGIC = b"\xaa\x50"
MD5_MAGIC = b"\xeb\xeb"
TYPE_APP, TYPE_DATA = 0x00, 0x01
SUBTYPE_FACTORY, SUBTYPE_OTA_0 = 0x00, 0x10
# Data subtypes a filesystem partition has: fat (MicroPython's tables say fat for its
# "vfs", though it holds LittleFS), spiffs, littlefs.
FS_SUBTYPES = {0x81: "fat", 0x82: "spiffs", 0x83: "littlefs"}
FS_LABEL = "vfs"  # what MicroPython mounts (esp32.Partition.find(TYPE_DATA, label="vfs"))

# -- LittleFS as MicroPython's vfs.VfsLfs2 sees it on the ESP32 --------------------------
# block_size: esp32.Partition's block size (4096, the flash sector); read/prog size and
# lookahead: VfsLfs2's defaults (readsize=32, progsize=32, lookahead=32, extmod/vfs_lfs.c),
# and from them cache_size = 4 * max(read, prog) and block_cycles = 100 (extmod/vfs_lfsx.c);
# name_max 255 (LFS2_NAME_MAX, not overridden by MicroPython). block_count is the partition
# size / 4096: littlefs refuses to mount a filesystem whose superblock says otherwise.
# disk_version 2.0: littlefs 2.6 and later write 2.1 by default, which the littlefs 2.5 of
# older MicroPython releases refuses to mount; every littlefs v2 reads 2.0 (a newer board
# upgrades it on its first write).
BLOCK_SIZE = 4096
LFS_GEOMETRY = dict(block_size=BLOCK_SIZE, read_size=32, prog_size=32, lookahead_size=32, cache_size=128,
                    block_cycles=100, name_max=255, disk_version=0x00020000)
ERASED = b"\xff"


class Partition:
    def __init__(self, kind, subtype, offset, size, label, flags):
        self.type, self.subtype, self.offset, self.size, self.label, self.flags = (kind, subtype, offset, size,
                                                                                   label, flags)

    @property
    def end(self):
        return self.offset + self.size

    def __repr__(self):
        return "<Partition %s type %d subtype 0x%02x at 0x%x, %d bytes>" % (self.label, self.type, self.subtype,
                                                                             self.offset, self.size)


def parse_partition_table(data, where="the firmware"):
    """[Partition] of a partition table (the 0xC00 bytes at flash 0x8000); BoardError when
    it is not one, or its MD5 entry does not match."""
    partitions = []
    for pos in range(0, min(len(data), PARTITION_TABLE_SIZE) - ENTRY.size + 1, ENTRY.size):
        entry = data[pos:pos + ENTRY.size]
        if entry[:2] == ENTRY_MAGIC:
            magic, kind, subtype, offset, size, label, flags = ENTRY.unpack(entry)
            label = label.split(b"\0", 1)[0].decode("ascii", "replace")
            partitions.append(Partition(kind, subtype, offset, size, label, flags))
        elif entry[:2] == MD5_MAGIC:
            if hashlib.md5(data[:pos]).digest() != entry[16:]:
                raise BoardError("the partition table of %s fails its MD5 check (a damaged or cut .bin): "
                                 "download the firmware again from %s" % (where, FIRMWARE_DOWNLOADS))
        elif entry == ERASED * ENTRY.size:
            break
        else:
            raise BoardError("the partition table of %s has an entry that is not one (at byte %d of the table)"
                             % (where, pos))
    if not partitions:
        raise BoardError("no partition table in %s: not a whole MicroPython firmware .bin (the download "
                         "page's ESP32_GENERIC-<date>-v1.xx.bin holds bootloader, partition table and application): "
                         "download it from %s" % (where, FIRMWARE_DOWNLOADS))
    return partitions


def find_partition_table(data, base, where="the firmware"):
    """(flash offset, [Partition]) of the partition table in data, which starts at flash
    offset base: at 0x8000 (ESP-IDF's default, MicroPython's), else at the first flash
    sector after the bootloader that holds one (a firmware built with another
    CONFIG_PARTITION_TABLE_OFFSET)."""
    candidates = [PARTITION_TABLE_OFFSET] + [at for at in range(base + 0x1000, min(base + len(data), 0x10000), 0x1000)
                                             if at != PARTITION_TABLE_OFFSET]
    problem = None
    for at in candidates:
        if at >= base and data[at - base:at - base + 2] == ENTRY_MAGIC:
            try:
                return at, parse_partition_table(data[at - base:at - base + PARTITION_TABLE_SIZE], where)
            except BoardError as e:  # the default offset's problem is the one to tell
                problem = problem or e
    raise problem or BoardError("no partition table in %s: not a whole MicroPython firmware .bin (the download "
                                "page's ESP32_GENERIC-<date>-v1.xx.bin holds bootloader, partition table and "
                                "application): download it from %s" % (where, FIRMWARE_DOWNLOADS))


def filesystem_partition(partitions, where="the firmware"):
    """The partition MicroPython mounts at "/" (data, label "vfs"); BoardError without one."""
    found = [p for p in partitions if p.type == TYPE_DATA and p.label == FS_LABEL]
    if not found:
        names = ", ".join("%s (%s)" % (p.label, "app" if p.type == TYPE_APP else "data") for p in partitions)
        raise BoardError("the partition table of %s has no filesystem partition (a data partition labelled "
                         "%r, where MicroPython keeps its files; it has: %s): use a MicroPython firmware with a "
                         "filesystem, such as ESP32_GENERIC from %s" % (where, FS_LABEL, names, FIRMWARE_DOWNLOADS))
    fs = found[0]
    if fs.subtype not in FS_SUBTYPES:
        raise BoardError("the %r partition of %s has data subtype 0x%02x, not a filesystem's (fat, spiffs or "
                         "littlefs): use a MicroPython firmware from %s" % (fs.label, where, fs.subtype,
                                                                           FIRMWARE_DOWNLOADS))
    if fs.offset % BLOCK_SIZE or fs.size % BLOCK_SIZE or fs.size < 2 * BLOCK_SIZE:
        raise BoardError("the %r partition of %s (0x%x, %d bytes) is not whole %d-byte flash sectors"
                         % (fs.label, where, fs.offset, fs.size, BLOCK_SIZE))
    return fs


def app_partition(partitions):
    apps = [p for p in partitions if p.type == TYPE_APP]
    for subtype in (SUBTYPE_FACTORY, SUBTYPE_OTA_0):  # what the bootloader starts first
        for p in apps:
            if p.subtype == subtype:
                return p
    return apps[0] if apps else None


# -- The firmware .bin ---------------------------------------------------------------------

def load_esp_image(chip, data, what):
    """esptool's parser on the ESP image at the start of data, with the checks of `esptool
    image-info` (chip id, checksum, SHA-256 digest); BoardError when it is not a valid one."""
    from esptool.bin_image import LoadFirmwareImage
    from esptool.util import FatalError

    try:
        image = LoadFirmwareImage(chip, data)
    except (FatalError, RuntimeError, struct.error, ValueError) as e:
        raise BoardError("%s is not a valid %s image (esptool: %s)" % (what, chip, e))
    problems = []
    if getattr(image, "chip_id", None) is not None and image.chip_id != image.ROM_LOADER.IMAGE_CHIP_ID:
        problems.append("it is built for chip id %d, not %s" % (image.chip_id, chip))
    if image.calculate_checksum() != image.checksum:
        problems.append("its checksum does not match")
    if getattr(image, "append_digest", False) and image.stored_digest != image.calc_digest:
        problems.append("its SHA-256 digest does not match")
    if problems:
        raise BoardError("%s is not a valid %s image: %s" % (what, chip, "; ".join(problems)))
    return image


class Firmware:
    """A MicroPython firmware .bin: chip, flash offset, partitions, filesystem partition."""

    def __init__(self, path):
        self.path = path
        self.chip = board.image_chip(path)  # BoardError when missing or not starting with 0xE9
        where = "FIRMWARE %s" % path
        if self.chip is None:
            raise BoardError("%s is not an image for a chip this tool knows (%s): download the .bin for your "
                             "board from %s" % (where, ", ".join(sorted(board.FLASH_OFFSETS)), FIRMWARE_DOWNLOADS))
        with open(path, "rb") as f:
            self.data = f.read()
        # The download page's .bin starts with the second-stage bootloader, which the chip's
        # ROM reads at a fixed flash offset: 0x1000 on the ESP32 and ESP32-S2 (the first 4 KB
        # of their flash are not used), 0x0 on the S3/C3/C6, 0x2000 on the C5/P4 (board.py,
        # from MicroPython's boards/*/board.json). Inside the .bin, flash offset X is at byte
        # X - offset: the image written at 0x0 puts the .bin at this offset, after erased bytes.
        self.offset = board.FLASH_OFFSETS[self.chip]
        load_esp_image(self.chip, self.data, "%s (its bootloader)" % where)
        self.table_offset, self.partitions = find_partition_table(self.data, self.offset, where)
        self.fs = filesystem_partition(self.partitions, where)
        self.end = self.offset + len(self.data)  # flash offset after the .bin
        if self.end > self.fs.offset:
            raise BoardError("%s runs to flash 0x%x, into its own %r partition at 0x%x: not a MicroPython "
                             "firmware .bin (download it from %s)" % (where, self.end, self.fs.label,
                                                                     self.fs.offset, FIRMWARE_DOWNLOADS))
        app = app_partition(self.partitions)
        if app is None:
            raise BoardError("the partition table of %s has no app partition" % where)
        if app.offset < self.offset or app.offset - self.offset >= len(self.data):
            raise BoardError("%s ends before its application (partition %r at flash 0x%x): the .bin is cut short "
                             "or is only the bootloader; download the whole firmware from %s"
                             % (where, app.label, app.offset, FIRMWARE_DOWNLOADS))
        self.app = app
        load_esp_image(self.chip, self.data[app.offset - self.offset:app.end - self.offset],
                       "%s (its application at 0x%x)" % (where, app.offset))
        # The image covers every partition of the table: a device flashed with it has no
        # leftover of an earlier setup (the NVS and other data partitions are erased).
        self.flash_end = max([p.end for p in self.partitions] + [self.end])


# -- The filesystem --------------------------------------------------------------------------

def littlefs(block_count):
    from littlefs import LittleFS

    return LittleFS(block_count=block_count, **LFS_GEOMETRY)


def build_filesystem(size, files):
    """The bytes of a LittleFS filesystem of `size` bytes holding files [(board path,
    bytes)], and the number of blocks it uses; BoardError when they do not fit."""
    from littlefs import LittleFSError

    fs = littlefs(size // BLOCK_SIZE)
    try:
        _fill(fs, files)
    except LittleFSError as e:
        if e.code != LittleFSError.Error.LFS_ERR_NOSPC:
            raise
        total = sum(len(content) for _, content in files)
        needed = size * 2
        while needed < (1 << 26):  # what they take: filled into a larger one (64 MB at most)
            try:
                fs = littlefs(needed // BLOCK_SIZE)
                _fill(fs, files)
                break
            except LittleFSError:
                needed *= 2
        raise BoardError("the firmware's filesystem partition %r (%d KB) is too small for the %d files (%d KB, which "
                         "take %d KB of LittleFS blocks): use a firmware whose partition table gives %r more room "
                         "(a variant for a board with more flash)" % (FS_LABEL, size // 1024, len(files),
                                                                      total // 1024,
                                                                      fs.used_block_count * BLOCK_SIZE // 1024,
                                                                      FS_LABEL))
    data = bytes(fs.context.buffer)
    assert len(data) == size
    return data, fs.used_block_count


def _fill(fs, files):
    made = set()
    for target, content in files:
        parts = target.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folder = "/".join(parts[:i])
            if folder not in made:
                fs.mkdir(folder)
                made.add(folder)
        with fs.open(target, "wb") as f:
            f.write(content)


def image_files(build, config_bytes=None):
    """[(board path, bytes)] the image holds: what `make deploy` copies, in its order, then
    config.py."""
    files = []
    for target, local in board.deployed_files(build):
        with open(local, "rb") as f:
            files.append((target, f.read()))
    if config_bytes is not None:
        files.append(("config.py", config_bytes))
    return files


def read_config(config, build):
    """config.py's bytes, validated as `make provision` does (problems by key name, never a value)."""
    if not os.path.isfile(config):
        raise BoardError("CONFIG %s: no such file" % config)
    with open(config, "rb") as f:
        data = f.read()
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BoardError("%s is not UTF-8 text" % shown(config))
    board.validate_config(source, config, build)
    for message in board.config_notes(source, board.template_keys()):
        note("note: " + message)
    return data, board.literal_assignments(source)


def build_image(firmware, config=None, out=DEFAULT_OUT, build=board.BUILD):
    """Writes the image; returns a dict of its figures."""
    fw = Firmware(firmware)
    config_bytes = values = None
    if config:
        config_bytes, values = read_config(config, build)
    files = image_files(build, config_bytes)
    paths = {target for target, _ in files}
    ca = (values or {}).get("CONFIG_TLS_CA")
    if isinstance(ca, str) and ca.lstrip("/").startswith("certs/") and ca.lstrip("/") not in paths:
        raise BoardError("CONFIG_TLS_CA of %s is %s, which the image does not hold: put the certificate in "
                         "firmware/certs/ (make build copies it) or fix the path" % (shown(config), ca))
    fs_bytes, used = build_filesystem(fw.fs.size, files)
    image = bytearray(ERASED * fw.flash_end)
    image[fw.offset:fw.end] = fw.data
    image[fw.fs.offset:fw.fs.end] = fs_bytes
    out_dir = os.path.dirname(os.path.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    tmp = out + ".tmp"
    # Mode 600 from the start when it holds config.py: the secret is never readable by others.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if config else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(image)
    if config:
        os.chmod(tmp, 0o600)  # an existing file keeps its mode through O_TRUNC
    os.replace(tmp, out)
    return {"chip": fw.chip, "firmware_offset": fw.offset, "firmware_bytes": len(fw.data),
            "fs_offset": fw.fs.offset, "fs_bytes": fw.fs.size, "fs_used_bytes": used * BLOCK_SIZE,
            "files": len(files), "content_bytes": sum(len(c) for _, c in files), "image_bytes": len(image),
            "config": bool(config)}


# -- flash -------------------------------------------------------------------------------------

def image_layout(path):
    """(chip, Partition of the filesystem) of an image made by `build`; BoardError for any
    other file (a firmware .bin given as IMAGE would land at the wrong offset)."""
    if not path:
        raise BoardError("IMAGE is missing: make one with `make image FIRMWARE=ESP32_GENERIC-<date>-v1.xx.bin "
                         "[CONFIG=config.py] OUT=device.bin`, then make flash-image PORT=... IMAGE=device.bin")
    if not os.path.isfile(path):
        raise BoardError("IMAGE %s: no such file (make image writes it)" % path)
    with open(path, "rb") as f:
        data = f.read(0x10000)
    chip = None
    for candidate, offset in sorted(board.FLASH_OFFSETS.items()):
        header = data[offset:offset + 16]
        if len(header) == 16 and header[0] == board.ESP_IMAGE_MAGIC and \
                board.IMAGE_CHIP_IDS.get(header[12] | header[13] << 8) == candidate:
            chip = candidate
            break
    if chip is None:
        raise BoardError("IMAGE %s is not a whole-flash image made by `make image` (no bootloader where the chip "
                         "reads it; a firmware .bin goes with `make flash FIRMWARE=...`)" % path)
    _, partitions = find_partition_table(data, 0, "IMAGE %s" % path)
    fs = filesystem_partition(partitions, "IMAGE %s" % path)
    size = os.path.getsize(path)
    if size < fs.end:
        raise BoardError("IMAGE %s is cut short (%d bytes, its filesystem ends at 0x%x): make it again"
                         % (path, size, fs.end))
    with open(path, "rb") as f:
        f.seek(fs.offset)
        block = f.read(16)
    if block[8:16] != b"littlefs":
        raise BoardError("IMAGE %s has no LittleFS filesystem in its %r partition: make it with `make image`"
                         % (path, fs.label))
    return chip, fs


def flash_commands(port, image, baud=board.DEFAULT_BAUD):
    chip, _ = image_layout(image)
    esptool = [board.tool("esptool"), "--chip", chip, "--port", port]
    # No erase-flash first: the image covers flash 0x0 to the end of the last partition
    # (erased bytes where the firmware has none), so nothing of an earlier setup is left.
    return [esptool + ["--baud", str(baud), "write-flash", "0x0", image]]


def holds_config(image):
    """Whether an image's filesystem holds config.py (read back with littlefs-python)."""
    _, fs = image_layout(image)
    with open(image, "rb") as f:
        f.seek(fs.offset)
        data = f.read(fs.size)
    lfs = littlefs(fs.size // BLOCK_SIZE)
    lfs.context.buffer = bytearray(data)
    lfs.mount()
    try:
        return "config.py" in lfs.listdir("/")
    finally:
        lfs.unmount()


def kb(n):
    return "%d KB" % round(n / 1024)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="image.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="flash: print the command, run nothing")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="write the flash image of one device")
    p.add_argument("--firmware", default="")
    p.add_argument("--config", default="", help="config.py to put in the image (it then holds its secrets)")
    p.add_argument("--out", default="", help="the image file (default %s)" % shown(DEFAULT_OUT))
    p.add_argument("--build", default=board.BUILD, help="what make build wrote (default build/firmware)")
    p = sub.add_parser("flash", help="write an image to the board at 0x0 (esptool)")
    p.add_argument("--port", default="")
    p.add_argument("--image", default="")
    p.add_argument("--baud", type=int, default=board.DEFAULT_BAUD)
    p.add_argument("--dry-run", action="store_true", default=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            if not args.firmware:
                raise BoardError("FIRMWARE is missing: download the .bin for your board from %s, then\n"
                                 "  make image FIRMWARE=ESP32_GENERIC-<date>-v1.xx.bin [CONFIG=config.py] "
                                 "[OUT=device.bin]" % FIRMWARE_DOWNLOADS)
            out = args.out or DEFAULT_OUT
            figures = build_image(args.firmware, args.config or None, out, args.build)
            print("wrote %s: %d bytes for esptool write-flash 0x0 (%s)" % (shown(out), figures["image_bytes"],
                                                                           figures["chip"]))
            print("  firmware  %s at 0x%x (%s)" % (shown(args.firmware), figures["firmware_offset"],
                                                  kb(figures["firmware_bytes"])))
            print("  files     %d files, %s, in LittleFS at 0x%x: %s of %s used"
                  % (figures["files"], kb(figures["content_bytes"]), figures["fs_offset"],
                     kb(figures["fs_used_bytes"]), kb(figures["fs_bytes"])))
            if figures["config"]:
                print("  config    %s as config.py: %s HOLDS ITS SECRETS (mode 600): keep it private, delete it "
                      "after flashing" % (shown(args.config), shown(out)))
            print("flash it: make flash-image PORT=/dev/ttyUSB0 IMAGE=%s" % shown(out))
            return 0
        board._check_port(args.port, args.dry_run)
        commands = flash_commands(args.port, args.image, args.baud)
        if holds_config(args.image):
            note("note: %s holds config.py (its secrets): delete it once the board runs" % args.image)
        else:
            note("note: %s has no config.py: copy one with make provision PORT=%s" % (args.image, args.port))
        return board.run(commands, args.dry_run)
    except BoardError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
