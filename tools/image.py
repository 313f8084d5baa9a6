"""One flash image per device: MicroPython's firmware .bin, plus the board's filesystem
partition already holding what `make deploy` copies (and config.py with CONFIG=), written
by one esptool command at flash offset 0x0. The Makefile's image targets call it.

    python tools/image.py build --firmware ESP32_GENERIC-<date>-v1.xx.bin [--config PATH] [--flash-size 4MB]
                                [--out device.bin]
    python tools/image.py [--dry-run] flash --port PORT --image device.bin [--baud N]

The layout comes from the firmware itself: its chip (image header), where the .bin goes
(board.FLASH_OFFSETS), its partition table (at flash 0x8000, inside the .bin), and from
that table the data partition MicroPython mounts as its filesystem (ports/esp32/modules/
flashbdev.py): the one labelled "vfs", else "ffat". Since v1.26.0 the official firmware's
table has neither: at every boot the firmware registers a "vfs" partition from the end of
the last partition of the table to the end of the flash it detects (ports/esp32/main.c),
so the filesystem's place and size depend on the board's flash size (--flash-size). That
partition is filled with a LittleFS v2 filesystem of the geometry MicroPython's
vfs.VfsLfs2 uses on the ESP32 (LFS_GEOMETRY), so that the board mounts it at its first
start instead of formatting it.

An image made for a flash size is exactly that long when the firmware places the
filesystem by the flash size, and its LittleFS superblock holds the block count of that
partition: `flash` reads the board's flash size first (esptool flash-id) and refuses an
image made for another size (the board would find a superblock with another block count:
littlefs does not mount it, and MicroPython's start-up stops with "The filesystem appears
to be corrupted").

An image made with CONFIG= holds that config's secrets: it is written mode 600, the
output says so, and no value of the config is ever printed (problems name the key).
"""
import argparse
import hashlib
import os
import shlex
import struct
import subprocess
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
SUBTYPE_FAT = 0x81
FS_SUBTYPES = {SUBTYPE_FAT: "fat", 0x82: "spiffs", 0x83: "littlefs"}
# What MicroPython mounts at "/" (ports/esp32/modules/flashbdev.py, v1.22 to v1.29): the
# data partition labelled "vfs" in 4096-byte blocks, else the one labelled "ffat" (TinyUF2's
# tables, FAT) in 512-byte blocks, which this tool does not fill.
FS_LABEL = "vfs"
FS_LABELS = (FS_LABEL, "ffat")

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


def filesystem_partition(partitions, flash_size, where="the firmware"):
    """(Partition MicroPython mounts at "/", whether the firmware places it by the flash
    size); BoardError when there is none, it is not LittleFS's, or it does not fit flash_size
    bytes.

    A table with a "vfs" or "ffat" data partition (v1.22 to v1.25, custom tables): that one.
    Without (v1.26.0 and later, ports/esp32/main.c): the "vfs" partition the firmware
    registers at boot, data subtype fat, from the end of the last partition of the table
    (any type) to the end of the flash; none when the table reaches the end of the flash."""
    for label in FS_LABELS:
        found = [p for p in partitions if p.type == TYPE_DATA and p.label == label]
        if found:
            fs, placed_by_flash_size = found[0], False
            break
    else:
        end = max(p.end for p in partitions)
        if end >= flash_size:
            raise BoardError("the partitions of %s run to flash 0x%x: no room for the filesystem the firmware makes "
                             "at boot from there to the end of %s: give the board's flash size, "
                             "FLASH_SIZE=8MB, 16MB, ... (esptool flash-id tells it)"
                             % (where, end, a_flash(flash_size)))
        fs = Partition(TYPE_DATA, SUBTYPE_FAT, end, flash_size - end, FS_LABEL, 0)
        placed_by_flash_size = True
    if fs.label != FS_LABEL:
        raise BoardError("the filesystem partition of %s is %r (TinyUF2's FAT, which MicroPython mounts in 512-byte "
                         "blocks): make image writes LittleFS for a %r partition only; set this board up with "
                         "make flash, deploy and provision" % (where, fs.label, FS_LABEL))
    if fs.subtype not in FS_SUBTYPES:
        raise BoardError("the %r partition of %s has data subtype 0x%02x, not a filesystem's (fat, spiffs or "
                         "littlefs): use a MicroPython firmware from %s" % (fs.label, where, fs.subtype,
                                                                           FIRMWARE_DOWNLOADS))
    if fs.offset % BLOCK_SIZE or fs.size % BLOCK_SIZE or fs.size < 2 * BLOCK_SIZE:
        raise BoardError("the %r partition of %s (0x%x, %d bytes) is not whole %d-byte flash sectors"
                         % (fs.label, where, fs.offset, fs.size, BLOCK_SIZE))
    if fs.end > flash_size:
        raise BoardError("the %r partition of %s (0x%x, %d KB) runs past the end of %s: give the board's "
                         "flash size with FLASH_SIZE= (esptool flash-id tells it), or use the firmware for it"
                         % (fs.label, where, fs.offset, fs.size // 1024, a_flash(flash_size)))
    return fs, placed_by_flash_size


# -- Flash sizes (esptool's names: 1MB ... 128MB) ---------------------------------------------

DEFAULT_FLASH_SIZE = "4MB"  # the smallest flash of an ESP32_GENERIC board


def flash_size_names():
    """{bytes: name} of the flash sizes esptool knows for the chips of board.FLASH_OFFSETS."""
    from esptool.targets import CHIP_DEFS
    from esptool.util import flash_size_bytes

    names = set()
    for chip in board.FLASH_OFFSETS:
        names.update(CHIP_DEFS[chip].FLASH_SIZES)
    return {flash_size_bytes(name): name for name in names}


def parse_flash_size(text):
    """Bytes of a FLASH_SIZE such as 4MB or 16MB; BoardError for anything else."""
    names = flash_size_names()
    name = text.strip().upper()
    for size, known in names.items():
        if known == name:
            return size
    raise BoardError("FLASH_SIZE %s: not a flash size; give the board's as %s (esptool flash-id tells it)"
                     % (text, ", ".join(names[size] for size in sorted(names))))


def size_name(size):
    return flash_size_names().get(size) or kb(size)


def a_flash(size):
    name = size_name(size)
    return "%s %s flash" % ("an" if name.startswith("8") else "a", name)


def app_partition(partitions):
    apps = [p for p in partitions if p.type == TYPE_APP]
    for subtype in (SUBTYPE_FACTORY, SUBTYPE_OTA_0):  # what the bootloader starts first
        for p in apps:
            if p.subtype == subtype:
                return p
    return apps[0] if apps else None


# -- The firmware .bin ---------------------------------------------------------------------

def load_esp_image(chip, data, what, last=False):
    """esptool's parser on the ESP image at the start of data, with the checks of `esptool
    image-info` (chip id, checksum, SHA-256 digest); BoardError when it is not a valid one.
    last: the image runs to the end of the file, so one that ends too soon is cut short."""
    from esptool.bin_image import LoadFirmwareImage
    from esptool.util import FatalError

    image = None
    try:
        image = LoadFirmwareImage(chip, data)
        ran_out, problem = getattr(image, "append_digest", False) and len(image.stored_digest or b"") < 32, None
    except (FatalError, RuntimeError, struct.error, ValueError) as e:
        ran_out, problem = "End of file" in str(e), "esptool: %s" % e
    except (TypeError, IndexError, EOFError):  # esptool's parser reads past the end: ord(b"")
        ran_out, problem = True, "esptool's parser ran out of bytes"
    if ran_out and last:
        raise BoardError("%s is cut short: the file ends inside the image (a download that did not finish?); "
                         "download it again from %s" % (what, FIRMWARE_DOWNLOADS))
    if image is None or ran_out:
        raise BoardError("%s is not a valid %s image (%s)" % (what, chip, problem or "its SHA-256 digest is cut"))
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
    """A MicroPython firmware .bin: chip, flash offset, partitions, and the filesystem
    partition on a flash of flash_size bytes."""

    def __init__(self, path, flash_size):
        self.path, self.flash_size = path, flash_size
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
        self.fs, self.placed_by_flash_size = filesystem_partition(self.partitions, flash_size, where)
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
        app_data = self.data[app.offset - self.offset:app.end - self.offset]
        load_esp_image(self.chip, app_data, "%s (its application at 0x%x)" % (where, app.offset),
                       last=app.end - self.offset >= len(self.data))
        # The image covers every partition of the table (and the filesystem the firmware
        # makes after them): a device flashed with it has no leftover of an earlier setup
        # (the NVS and other data partitions are erased).
        self.flash_end = max([p.end for p in self.partitions] + [self.end, self.fs.end])
        if self.flash_end > flash_size:
            raise BoardError("the partitions of %s run to flash 0x%x, past the end of %s: give the board's "
                             "flash size with FLASH_SIZE= (esptool flash-id tells it)"
                             % (where, self.flash_end, a_flash(flash_size)))


# -- The filesystem --------------------------------------------------------------------------

def littlefs(block_count):
    from littlefs import LittleFS

    return LittleFS(block_count=block_count, **LFS_GEOMETRY)


def build_filesystem(fs_partition, files, room_hint):
    """The bytes of a LittleFS filesystem filling fs_partition, holding files [(board path,
    bytes)], and the bytes its blocks use; BoardError when they do not fit (room_hint: what
    gives more room)."""
    from littlefs import LittleFSError

    size = fs_partition.size
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
                         "take %d KB of LittleFS blocks): %s" % (fs_partition.label, size // 1024, len(files),
                                                                  total // 1024,
                                                                  fs.used_block_count * BLOCK_SIZE // 1024,
                                                                  room_hint))
    data = bytes(fs.context.buffer)
    assert len(data) == size
    return data, fs.used_block_count * BLOCK_SIZE


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
    """(config.py's bytes, [(board path, host path)] of the files it names found next to it);
    validated as `make provision` does (problems by key name, never a value)."""
    if not os.path.isfile(config):
        raise BoardError("CONFIG %s: no such file" % config)
    with open(config, "rb") as f:
        data = f.read()
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BoardError("%s is not UTF-8 text" % shown(config))
    try:
        values = board.literal_assignments(source)
    except (SyntaxError, ValueError):
        board.validate_config(source, config, build)  # the line and what is wrong in it
        raise
    found = board.config_board_files(values, config)
    deployed = {target for target, _ in board.deployed_files(build)}
    ca = values.get("CONFIG_TLS_CA")
    if isinstance(ca, str) and ca and "CONFIG_TLS_CA" not in dict(found):
        # The board reads CONFIG_TLS_CA on its own flash: a file (or folder) the image holds.
        target = ca.strip("/")
        if target not in deployed and not any(path.startswith(target + "/") for path in deployed):
            raise BoardError("CONFIG_TLS_CA of %s is %s, which the image does not hold: put %s beside %s (it then "
                             "goes into the image at %s), or the certificate in firmware/certs/ (make build copies "
                             "it), or fix the path" % (shown(config), ca, os.path.basename(target), shown(config),
                                                       "/" + target))
    board.validate_config(source, config, build)
    for message in board.config_notes(source, board.template_keys()):
        note("note: " + message)
    return data, [(values[key].lstrip("/"), path) for key, path in found]


def build_image(firmware, config=None, out=DEFAULT_OUT, build=board.BUILD, flash_size=DEFAULT_FLASH_SIZE):
    """Writes the image for a flash of flash_size (4MB, 16MB, ...); returns a dict of its figures."""
    fw = Firmware(firmware, parse_flash_size(flash_size))
    config_bytes, beside = None, []
    if config:
        config_bytes, beside = read_config(config, build)
    files = image_files(build, config_bytes)
    # The files config.py names on the board, found next to it: at the board path it names
    # (in place of a deployed file of that path).
    for target, path in beside:
        with open(path, "rb") as f:
            content = f.read()
        files = [(t, c) for t, c in files if t != target]
        files.insert(len(files) - 1, (target, content))  # before config.py, which names it
    if fw.placed_by_flash_size:
        room = ("the firmware makes it from 0x%x to the end of the flash: a board with more flash has more "
                "(FLASH_SIZE=)" % fw.fs.offset)
    else:
        room = "use a firmware whose partition table gives %r more room (a variant for a board with more flash)" % (
            fw.fs.label)
    fs_bytes, used = build_filesystem(fw.fs, files, room)
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
            "fs_offset": fw.fs.offset, "fs_bytes": fw.fs.size, "fs_used_bytes": used, "fs_label": fw.fs.label,
            "fs_placed_by_flash_size": fw.placed_by_flash_size, "flash_size": fw.flash_size,
            "files": len(files), "content_bytes": sum(len(c) for _, c in files), "image_bytes": len(image),
            "config": bool(config), "beside_config": beside}


# -- flash -------------------------------------------------------------------------------------

# littlefs's error codes (lfs.h) a damaged filesystem gives.
LFS_ERRORS = {-5: "I/O error", -84: "corrupt", -22: "invalid superblock", -2: "no entry", -28: "no space"}


class Image:
    """An image made by `build`, read back: its chip, filesystem partition (and whether the
    firmware places it by the flash size), the flash size it is made for, and
    whether its LittleFS holds config.py. BoardError for any other file (a firmware .bin
    given as IMAGE would land at the wrong offset), a cut one, or a damaged filesystem."""

    def __init__(self, path):
        if not path:
            raise BoardError("IMAGE is missing: make one with `make image FIRMWARE=ESP32_GENERIC-<date>-v1.xx.bin "
                             "[CONFIG=config.py] OUT=device.bin`, then make flash-image PORT=... IMAGE=device.bin")
        if not os.path.isfile(path):
            raise BoardError("IMAGE %s: no such file (make image writes it)" % path)
        self.path = path
        where = "IMAGE %s" % path
        with open(path, "rb") as f:
            data = f.read(0x10000)
        self.chip = None
        for candidate, offset in sorted(board.FLASH_OFFSETS.items()):
            header = data[offset:offset + 16]
            if len(header) == 16 and header[0] == board.ESP_IMAGE_MAGIC and \
                    board.IMAGE_CHIP_IDS.get(header[12] | header[13] << 8) == candidate:
                self.chip = candidate
                break
        if self.chip is None:
            raise BoardError("%s is not a whole-flash image made by `make image` (no bootloader where the chip reads "
                             "it; a firmware .bin goes with `make flash FIRMWARE=...`)" % where)
        _, partitions = find_partition_table(data, 0, where)
        self.size = os.path.getsize(path)
        table_end = max(p.end for p in partitions)
        # Where the firmware places the filesystem by the flash size, it runs to the end of
        # the flash: the image is as long as the flash it is made for.
        by_flash_size = not [p for p in partitions if p.type == TYPE_DATA and p.label in FS_LABELS]
        if by_flash_size and (self.size not in flash_size_names() or self.size <= table_end):
            raise BoardError("%s is %d bytes, not the size of a flash: cut short, or not made by `make image`; "
                             "make it again" % (where, self.size))
        self.fs, self.placed_by_flash_size = filesystem_partition(partitions, max(self.size, table_end), where)
        if self.size < self.fs.end:
            raise BoardError("%s is cut short (%d bytes, its filesystem ends at 0x%x): make it again"
                             % (where, self.size, self.fs.end))
        self.flash_size = self.size if self.placed_by_flash_size else None
        self.holds_config = self._read_filesystem(where)

    def _read_filesystem(self, where):
        """Mounts the image's LittleFS with the block count of its partition (as the board
        does); whether it holds config.py."""
        from littlefs import LittleFSError

        with open(self.path, "rb") as f:
            f.seek(self.fs.offset)
            data = f.read(self.fs.size)
        if data[8:16] != b"littlefs":
            raise BoardError("%s has no LittleFS filesystem in its %r partition at 0x%x: make it with `make image`"
                             % (where, self.fs.label, self.fs.offset))
        lfs = littlefs(self.fs.size // BLOCK_SIZE)
        lfs.context.buffer = bytearray(data)
        try:
            lfs.mount()
            try:
                return "config.py" in lfs.listdir("/")
            finally:
                lfs.unmount()
        except LittleFSError as e:
            raise BoardError("%s: its LittleFS filesystem at 0x%x does not mount (littlefs error %d, %s: damaged, or "
                             "made for another partition size): the board would not mount it either; make the "
                             "image again with `make image`"
                             % (where, self.fs.offset, e.code, LFS_ERRORS.get(e.code, "?")))

    def made_for(self):
        if self.placed_by_flash_size:
            return a_flash(self.flash_size)
        return "a flash of %s or more (its partitions end at 0x%x)" % (size_name(self.size), self.size)


def flash_commands(port, image, baud=board.DEFAULT_BAUD):
    """[esptool flash-id, esptool write-flash 0x0 IMAGE] for an Image."""
    esptool = [board.tool("esptool"), "--chip", image.chip, "--port", port]
    # No erase-flash first: the image covers flash 0x0 to the end of the last partition
    # (erased bytes where the firmware has none), so nothing of an earlier setup is left.
    return [esptool + ["flash-id"], esptool + ["--baud", str(baud), "write-flash", "0x0", image.path]]


class RecordedFlashId:
    """The part of esptool's ESPLoader that esptool.cmds.detect_flash_size reads: the
    flash's JEDEC id, here as esptool flash-id printed it."""
    secure_download_mode = False

    def __init__(self, jedec_id):
        self.jedec_id = jedec_id

    def flash_id(self, cache=True):
        return self.jedec_id


def flash_size_from_flash_id(output):
    """Bytes of the board's flash from what `esptool flash-id` printed ("Manufacturer: c8",
    "Device: 4017"), decoded by esptool's own table (esptool.cmds.detect_flash_size);
    BoardError when it printed no id or esptool does not know the chip's size."""
    import re

    from esptool.cmds import detect_flash_size
    from esptool.util import flash_size_bytes

    manufacturer = re.search(r"^Manufacturer: ([0-9a-fA-F]{2})\s*$", output, re.M)
    device = re.search(r"^Device: ([0-9a-fA-F]{4})\s*$", output, re.M)
    if not manufacturer or not device:
        raise BoardError("esptool flash-id printed no flash id (no Manufacturer: and Device: lines): is the board "
                         "connected, in its bootloader?")
    vendor, device_id = int(manufacturer.group(1), 16), int(device.group(1), 16)
    # esptool prints the id's second and third bytes swapped (esptool.cmds._get_flash_info).
    name = detect_flash_size(RecordedFlashId(vendor | (device_id >> 8) << 8 | (device_id & 0xFF) << 16))
    if name is None:
        raise BoardError("esptool does not know the size of the board's flash chip (manufacturer %02x, device "
                         "%04x): the image is not written; if you know the board's flash size, write it with "
                         "`esptool write-flash 0x0 IMAGE` yourself" % (vendor, device_id))
    return flash_size_bytes(name)


def check_board_flash(image, board_flash, port):
    """BoardError when the board's flash (bytes) is not the one the image is made for."""
    if image.placed_by_flash_size and board_flash != image.flash_size:
        # MicroPython's _boot.py: the mount fails (littlefs: "Invalid block count"), and
        # inisetup.setup() finds the first block not erased and loops on that message.
        raise BoardError("the board on %s has %s; IMAGE %s is made for %s (the firmware would make its "
                         "filesystem from 0x%x to the end of the flash, with another block count: it would not mount "
                         "it, and would stop at boot with \"The filesystem appears to be corrupted\"): make the image "
                         "again with make image FLASH_SIZE=%s" % (port, a_flash(board_flash), image.path,
                                                                  image.made_for(), image.fs.offset,
                                                                  size_name(board_flash)))
    if not image.placed_by_flash_size and board_flash < image.size:
        raise BoardError("the board on %s has %s; IMAGE %s is made for %s: use a firmware for the board's "
                         "flash size" % (port, a_flash(board_flash), image.path, image.made_for()))


def read_board_flash(argv, port):
    """Runs esptool flash-id (argv), shows its output; the board's flash size in bytes."""
    print(shlex.join(argv), flush=True)
    if not os.path.exists(argv[0]):
        raise BoardError("%s is not installed: the make targets install requirements-board.txt on first use"
                         % argv[0])
    proc = subprocess.run(argv, capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise BoardError("esptool flash-id failed (exit status %d: %s): the board on %s was not read, nothing "
                         "written" % (proc.returncode, last, port))
    return flash_size_from_flash_id(proc.stdout)


def flash(port, path, baud=board.DEFAULT_BAUD, dry_run=False):
    """make flash-image: reads the board's flash size, then writes the image when it is made
    for it. Returns the exit status."""
    board._check_port(port, dry_run)
    image = Image(path)
    flash_id, write = flash_commands(port, image, baud)
    if image.holds_config:
        note("note: %s holds config.py (its secrets): delete it once the board runs" % path)
    else:
        note("note: %s has no config.py: copy one with make provision PORT=%s" % (path, port))
    if dry_run:
        note("note: %s is made for %s; esptool flash-id reads the board's, and the image is written only when "
             "%s" % (path, image.made_for(), "the board's is that size" if image.placed_by_flash_size
                     else "the board's holds it"))
        return board.run([flash_id, write], dry_run)
    check_board_flash(image, read_board_flash(flash_id, port), port)
    return board.run([write], dry_run)


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
    p.add_argument("--flash-size", default="", help="the board's flash: 4MB (default), 8MB, 16MB, ...")
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
            figures = build_image(args.firmware, args.config or None, out, args.build,
                                  args.flash_size or DEFAULT_FLASH_SIZE)
            print("wrote %s: %d bytes for esptool write-flash 0x0 (%s, %s flash)"
                  % (shown(out), figures["image_bytes"], figures["chip"], size_name(figures["flash_size"])))
            print("  firmware  %s at 0x%x (%s)" % (shown(args.firmware), figures["firmware_offset"],
                                                  kb(figures["firmware_bytes"])))
            print("  files     %d files, %s, in LittleFS at 0x%x: %s of %s used (%s)"
                  % (figures["files"], kb(figures["content_bytes"]), figures["fs_offset"],
                     kb(figures["fs_used_bytes"]), kb(figures["fs_bytes"]),
                     "made by the firmware at boot, to the end of the flash" if figures["fs_placed_by_flash_size"]
                     else "its partition table's %r" % figures["fs_label"]))
            for target, path in figures["beside_config"]:
                print("  beside    %s as /%s (named by %s)" % (shown(path), target, shown(args.config)))
            if figures["config"]:
                print("  config    %s as config.py: %s HOLDS ITS SECRETS (mode 600): keep it private, delete it "
                      "after flashing" % (shown(args.config), shown(out)))
            if figures["fs_placed_by_flash_size"] and not args.flash_size:
                note("note: FLASH_SIZE not given: made for %s (the smallest ESP32_GENERIC's); for a board with "
                     "more flash give FLASH_SIZE=8MB, 16MB, ... (make flash-image checks the board's)"
                     % a_flash(figures["flash_size"]))
            print("flash it: make flash-image PORT=/dev/ttyUSB0 IMAGE=%s (a board with %s)"
                  % (shown(out), a_flash(figures["flash_size"]) if figures["fs_placed_by_flash_size"]
                     else "%s of flash or more" % size_name(figures["image_bytes"])))
            return 0
        return flash(args.port, args.image, args.baud, args.dry_run)
    except BoardError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    except MemoryError:
        print("error: not enough memory to hold the image (as large as the flash, FLASH_SIZE=) and its filesystem: "
              "close other programs, or make it on a computer with more memory", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
