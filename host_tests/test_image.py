"""make image / make flash-image (tools/image.py): one flash image per device.

No real MicroPython .bin is in the repository, so the tests build synthetic firmware the
way the download page's are laid out: the bootloader (an ESP image esptool's parser
accepts) at the chip's offset, the partition table at flash 0x8000, the application (an
ESP image) at its app partition, nothing after it; with the tables of v1.26.0 and later
(no "vfs" entry: the firmware makes it at boot, to the end of the flash) and of v1.22 to
v1.25 (a "vfs" entry). The image made from it is checked against where the firmware
mounts its filesystem at boot (boot_filesystem below, written from ports/esp32/main.c and
modules/flashbdev.py), its filesystem read back with littlefs-python and mounted with
MicroPython's own vfs.VfsLfs2 in the unix port (host_tests/drivers/image_driver.py), and
`import app; app.notify(...)` runs from that mounted filesystem against the local AWS
stand-in: the bytes an ESP32 would boot from are the bytes under test. `make flash-image`
reads the board's flash size with esptool flash-id: the real esptool talks to a stand-in
ESP32 bootloader on a TCP port (StandInBootloader), and a stand-in esptool prints recorded
flash-id outputs (their flash-id block checked against esptool's own code).
"""
import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import sys

import pytest

from conftest import REPO, run_micropython
from local_aws_fixtures import aws, stand_in  # noqa: F401

import board
import image

BUILD = os.path.join(REPO, "build", "firmware")
DRIVER = os.path.join(REPO, "host_tests", "drivers", "image_driver.py")
SECRET = "imageTestSecretKey/NeverPrinted+0123456789"
ACCESS_KEY = "AKIAIMAGETESTDEVICE1"  # not a secret, but config.py's content is never printed
WIFI_PASSWORD = "image-wifi-password-not-printed"
PORT = "/dev/ttyUSB0"

# IMAGE_CHIP_ID in esptool's targets/<chip>.py, and the flash offset of the chip's .bin
# (MicroPython's boards/*/board.json).
CHIPS = {"esp32": (0, 0x1000), "esp32s3": (9, 0x0), "esp32c5": (23, 0x2000)}


# -- synthetic firmware --------------------------------------------------------------------

def esp_image(chip_id, segments, entry=0x40080000):
    """An ESP image (ESP-IDF's format, written here independently of esptool): 8-byte header,
    16-byte extended header, segments, XOR checksum at a 16-byte boundary, SHA-256."""
    out = bytearray(struct.pack("<BBBBI", 0xE9, len(segments), 2, 0x20, entry))
    out += struct.pack("<BBBBHBHH4xB", 0xEE, 0, 0, 0, chip_id, 0, 0, 0xFFFF, 1)  # hash appended
    checksum = 0xEF
    for addr, data in segments:
        data = data + b"\0" * (-len(data) % 4)
        out += struct.pack("<II", addr, len(data)) + data
        for byte in data:
            checksum ^= byte
    out += b"\0" * (15 - len(out) % 16) + bytes([checksum])
    return bytes(out + hashlib.sha256(out).digest())


def table_entry(kind, subtype, offset, size, label):
    return struct.pack("<2sBBII16sI", b"\xaa\x50", kind, subtype, offset, size, label.encode().ljust(16, b"\0"), 0)


# MicroPython's ports/esp32/partitions-4MiB.csv (ESP32_GENERIC, v1.22 to v1.25), and an
# OTA layout whose filesystem is elsewhere and not last.
GENERIC_4MB = [(1, 0x02, 0x9000, 0x6000, "nvs"), (1, 0x01, 0xF000, 0x1000, "phy_init"),
               (0, 0x00, 0x10000, 0x1F0000, "factory"), (1, 0x81, 0x200000, 0x200000, "vfs")]
OTA_8MB = [(1, 0x02, 0x9000, 0x4000, "nvs"), (1, 0x00, 0xD000, 0x2000, "otadata"),
           (1, 0x01, 0xF000, 0x1000, "phy_init"), (0, 0x10, 0x10000, 0x270000, "ota_0"),
           (0, 0x11, 0x280000, 0x270000, "ota_1"), (1, 0x83, 0x4F0000, 0x100000, "vfs"),
           (1, 0x99, 0x5F0000, 0x210000, "extra")]


# v1.26.0 and later: ports/esp32/partitions-4MiBplus.csv (ESP32_GENERIC) and
# partitions-8MiBplus-ota.csv, without a "vfs" entry.
GENERIC_V126 = GENERIC_4MB[:3]
OTA_V126 = [(1, 0x02, 0x9000, 0x4000, "nvs"), (1, 0x00, 0xD000, 0x2000, "otadata"),
            (1, 0x01, 0xF000, 0x1000, "phy_init"), (0, 0x10, 0x10000, 0x270000, "ota_0"),
            (0, 0x11, 0x280000, 0x270000, "ota_1")]
MB = 1024 * 1024


def boot_filesystem(entries, flash_size):
    """(offset, size) of the partition the firmware mounts at "/" on a flash of flash_size
    bytes, or None: the table's data partition labelled "vfs" (modules/flashbdev.py); without
    one (nor "ffat"), v1.26+'s main.c registers "vfs" from the end of the last partition of
    the table to the end of the flash, when there is room."""
    for kind, _, offset, size, label in entries:
        if kind == 1 and label == "vfs":
            return offset, size
    end = max(offset + size for _, _, offset, size, _ in entries)
    return (end, flash_size - end) if flash_size > end else None


def partition_table(entries, md5=True):
    data = b"".join(table_entry(*e) for e in entries)
    if md5:
        data += b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(data).digest()
    return data.ljust(0xC00, b"\xff")


def firmware(chip="esp32", entries=GENERIC_4MB, table=None, app_size=150000, table_at=0x8000):
    """The bytes of a synthetic MicroPython .bin for chip: bootloader, table, application."""
    chip_id, base = CHIPS[chip]
    boot = esp_image(chip_id, [(0x3FFF0000, os.urandom(3000)), (0x40078000, os.urandom(12000))])
    app_at = [e[2] for e in entries if e[0] == 0][0]
    app = esp_image(chip_id, [(0x3F400020, os.urandom(app_size // 3)), (0x400D0020, os.urandom(app_size // 3))])
    data = bytearray(b"\xff" * (app_at - base))
    data[:len(boot)] = boot
    data[table_at - base:table_at - base + 0xC00] = table if table is not None else partition_table(entries)
    return bytes(data + app)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


# -- running the tool --------------------------------------------------------------------

class Ran:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def tool(*args):
    """tools/image.py ARGS, run in this process (its main(), as the command line runs it;
    `make image` and `make flash-image` below run it as a program)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = image.main(list(args))
    ran = Ran(status, out.getvalue(), err.getvalue())
    for value in (SECRET, WIFI_PASSWORD, ACCESS_KEY):
        assert value not in ran.stdout + ran.stderr
    return ran


def make(*args):
    environ = {k: v for k, v in os.environ.items() if k not in ("PORT", "FIRMWARE", "CONFIG", "OUT", "IMAGE",
                                                               "FLASH_SIZE", "DRY_RUN", "MAKEFLAGS", "MAKELEVEL")}
    proc = subprocess.run(["make", "--no-print-directory", "-s"] + list(args), cwd=REPO, env=environ,
                          capture_output=True, text=True, timeout=300)
    for value in (SECRET, WIFI_PASSWORD, ACCESS_KEY):
        assert value not in proc.stdout + proc.stderr
    return proc


def build_image(tmp_path, fw_bytes, *args, name="device.bin"):
    fw = write(tmp_path / "ESP32_GENERIC-20250911-v1.26.1.bin", fw_bytes)
    out = str(tmp_path / name)
    proc = tool("build", "--firmware", fw, "--out", out, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc


def read(path):
    with open(path, "rb") as f:
        return f.read()


def deployed():
    """{board path: bytes} of what `make deploy` copies (board.py's own list)."""
    return {target: read(local) for target, local in board.deployed_files(BUILD)}


def lfs_files(data, offset, size):
    """{path: bytes} of the LittleFS at data[offset:offset+size] (littlefs-python, mounted
    with the ESP32's geometry), and the filesystem's stat."""
    from littlefs import LittleFS

    fs = LittleFS(block_size=4096, block_count=size // 4096, mount=False)
    fs.context.buffer = bytearray(data[offset:offset + size])
    fs.mount()
    files = {}
    for root, _, names in fs.walk("/"):
        for name in names:
            path = (root.rstrip("/") + "/" + name).lstrip("/")
            with fs.open(path, "rb") as f:
                files[path] = f.read()
    return files, fs.fs_stat()


def run_image(micropython, image_path, offset, size, steps, tmp_path):
    steps_file = write(tmp_path / "steps.json", json.dumps(steps).encode())
    proc = run_micropython(micropython, [DRIVER, image_path, str(offset), str(size), steps_file],
                           heapsize="8M", timeout=120)
    results = [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and len(results) == len(steps) + 1, proc.stdout + proc.stderr
    return results[:-1], results[-1], proc


@pytest.fixture(scope="module", autouse=True)
def built():
    if not os.path.isdir(BUILD):
        subprocess.run(["make", "-s", "build"], cwd=REPO, check=True, capture_output=True, timeout=300)


# -- layout --------------------------------------------------------------------------------


# Name: (partition table, flash size in MB): the firmware of v1.26+ (no "vfs" entry) and of
# v1.22 to v1.25 (a "vfs" entry) on 4, 8 and 16 MB boards.
LAYOUTS = {"v1.26-4MB": (GENERIC_V126, 4), "v1.26-8MB": (GENERIC_V126, 8), "v1.26-16MB": (GENERIC_V126, 16),
           "v1.26-ota-8MB": (OTA_V126, 8), "v1.25-4MB": (GENERIC_4MB, 4), "v1.25-8MB": (GENERIC_4MB, 8),
           "v1.25-16MB": (GENERIC_4MB, 16), "v1.25-ota-8MB": (OTA_8MB, 8)}


def layout_image(tmp_path, layout, chip="esp32", *args):
    """(image path, bytes of the .bin, flash size, (offset, size) of the filesystem at boot)."""
    entries, mb = LAYOUTS[layout]
    fw = firmware(chip, entries)
    out, proc = build_image(tmp_path, fw, "--flash-size", "%dMB" % mb, *args)
    return out, fw, mb * MB, boot_filesystem(entries, mb * MB), proc


@pytest.mark.parametrize("chip,layout", [("esp32", name) for name in LAYOUTS] + [
    (chip, layout) for chip in ("esp32s3", "esp32c5") for layout in ("v1.26-4MB", "v1.25-ota-8MB")])
def test_layout_follows_the_firmware(tmp_path, chip, layout):
    entries = LAYOUTS[layout][0]
    out, fw, flash, (fs_offset, fs_size), proc = layout_image(tmp_path, layout, chip)
    data = read(out)
    base = CHIPS[chip][1]
    if not [e for e in entries if e[4] == "vfs"]:  # v1.26+: the filesystem runs to the end of the flash
        assert len(data) == fs_offset + fs_size == flash
        assert "made by the firmware at boot, to the end of the flash" in proc.stdout
    else:  # every partition covered, nothing more
        assert len(data) == max(e[2] + e[3] for e in entries) <= flash
    assert data[:base] == b"\xff" * base  # before the bootloader: erased
    assert data[base:base + len(fw)] == fw  # the .bin where `make flash` writes it, unchanged
    assert data[base + len(fw):fs_offset] == b"\xff" * (fs_offset - base - len(fw))
    assert data[fs_offset + 8:fs_offset + 16] == b"littlefs"  # the superblock vfs.mount detects
    assert data[fs_offset + fs_size:] == b"\xff" * (len(data) - fs_offset - fs_size)
    files, fs_stat = lfs_files(data, fs_offset, fs_size)
    assert files == deployed() and fs_stat.block_count == fs_size // 4096
    # esptool's own parser reads the bootloader and the application at their flash offsets.
    from esptool.bin_image import LoadFirmwareImage

    app_at = [e[2] for e in entries if e[0] == 0][0]
    for at in (base, app_at):
        parsed = LoadFirmwareImage(chip, data[at:])
        assert parsed.checksum == parsed.calculate_checksum() and parsed.stored_digest == parsed.calc_digest
    assert "at 0x%x" % fs_offset in proc.stdout and "write-flash 0x0 (%s, %dMB flash)" % (
        chip, flash // MB) in proc.stdout


def test_partition_table_at_another_offset(tmp_path):
    """A firmware built with CONFIG_PARTITION_TABLE_OFFSET=0xA000: found, and its filesystem
    partition (elsewhere than MicroPython's usual) filled."""
    entries = [(1, 0x02, 0xB000, 0x5000, "nvs"), (0, 0x00, 0x20000, 0x1E0000, "factory"),
               (1, 0x83, 0x300000, 0x100000, "vfs")]
    fw = firmware(entries=entries, table_at=0xA000)
    out, _ = build_image(tmp_path, fw)
    data = read(out)
    assert len(data) == 0x400000 and data[0x1000:0x1000 + len(fw)] == fw
    files, fs_stat = lfs_files(data, 0x300000, 0x100000)
    assert files == deployed() and fs_stat.block_count == 256
    proc = tool("--dry-run", "flash", "--port", PORT, "--image", out)
    assert proc.returncode == 0 and proc.stdout.split()[-2:] == ["0x0", out], proc.stdout + proc.stderr


def test_filesystem_holds_exactly_what_deploy_copies(tmp_path):
    out, proc = build_image(tmp_path, firmware())
    files, fs_stat = lfs_files(read(out), 0x200000, 0x200000)
    assert files == deployed()
    assert "config.py" not in files and (fs_stat.block_size, fs_stat.block_count) == (4096, 512)
    assert fs_stat.disk_version == 0x00020000  # readable by the littlefs 2.5 of older MicroPython releases
    assert fs_stat.name_max == 255
    assert os.stat(out).st_mode & 0o777 == 0o644 and "SECRET" not in proc.stdout


# -- the board's filesystem, mounted by MicroPython ------------------------------------------


@pytest.mark.parametrize("layout", ["v1.26-4MB", "v1.26-8MB", "v1.26-16MB", "v1.25-4MB", "v1.25-8MB",
                                    "v1.25-16MB"])
def test_micropython_vfslfs2_mounts_the_image(micropython, tmp_path, layout):
    """At the offset and block count the firmware uses at boot on that flash; for v1.26+, a
    board of another flash size has another block count: VfsLfs2 refuses the superblock."""
    out, _, flash, (fs_offset, fs_size), _ = layout_image(tmp_path, layout)
    expected = deployed()
    other_flash = 8 * MB if flash != 8 * MB else 16 * MB
    other_size = other_flash - fs_offset
    steps = [{"op": "statvfs"}, {"op": "walk"}, {"op": "listdir", "path": "/lib/mpaws"},
             {"op": "mount", "size": other_size}]
    results, last, _ = run_image(micropython, out, fs_offset, fs_size, steps, tmp_path)
    assert all(r["ok"] for r in results), results
    assert last["mounts"] == ["VfsLfs2 /"]  # vfs.mount's detection chose LittleFS v2
    bsize, frsize, blocks, free = results[0]["statvfs"][:4]
    assert (bsize, frsize, blocks) == (4096, 4096, fs_size // 4096)
    # About 80 blocks used: a block or more for each of the 62 files, and the folders (each
    # traversal counts a little differently).
    assert free < blocks and free > blocks - 100
    assert results[1]["files"] == {path: [len(data), hashlib.sha256(data).hexdigest()]
                                   for path, data in expected.items()}
    assert results[2]["names"] == sorted(p.split("/")[-1] for p in expected if p.startswith("lib/mpaws/"))
    if layout.startswith("v1.26"):  # littlefs: "Invalid block count": the board would not mount it
        assert results[3] == {"ok": True, "mounted": False, "errno": 22}, results[3]


def test_app_runs_from_the_mounted_image(micropython, tmp_path, stand_in):
    """v1.26+ firmware on an 8 MB board: config.py names the stand-in's CA at the board path
    /ca.der, and the file sits beside config.py (not in firmware/certs/): it goes into the
    image there. MicroPython mounts the image where the firmware makes its filesystem at
    boot, and sends one message."""
    aws = stand_in
    shutil.copy(aws.ca_der, tmp_path / "ca.der")
    config = tmp_path / "config.py"
    aws.write_device_config(str(config), CONFIG_TLS_CA="/ca.der", CONFIG_TIMEOUT=15)
    secret = aws.secret_key
    out, _, flash, (fs_offset, fs_size), proc = layout_image(tmp_path, "v1.26-8MB", "esp32", "--config", str(config))
    assert (fs_offset, fs_size) == (0x200000, 6 * MB)
    assert secret not in proc.stdout + proc.stderr
    assert os.stat(out).st_mode & 0o777 == 0o600 and "HOLDS ITS SECRETS" in proc.stdout
    assert "ca.der as /ca.der" in proc.stdout, proc.stdout
    body = "from the image " + hashlib.sha256(os.urandom(8)).hexdigest()[:12]
    # config.py is let go of once checked (the settings hold its values): imported again, it
    # shows where it is read from.
    steps = [{"op": "notify", "subject": "Image", "body": body}, {"op": "modules", "names": ["config"]},
             {"op": "listdir", "path": "/"}, {"op": "read", "path": "/ca.der"}]
    results, _, run = run_image(micropython, out, fs_offset, fs_size, steps, tmp_path)
    assert secret not in run.stdout + run.stderr
    sent, modules, listed, ca = results
    assert sent.get("ok") and sent["status"] == 200, results
    assert [m["subject"] for m in aws.sns_messages() if m["message"] == body] == ["Image"]
    files = modules["files"]
    assert files["app"] == "app.mpy" and files["config"] == "config.py"  # from "/" of the mounted image
    assert files["mpaws.sigv4"] == "/lib/mpaws/sigv4.mpy" and files["mpaws.http"] == "/lib/mpaws/http.mpy"
    assert {"config.py", "outbox.txt", "ca.der"} <= set(listed["names"])  # the outbox: written by VfsLfs2
    assert ca["sha256"] == hashlib.sha256(read(aws.ca_der)).hexdigest()


# -- config.py in the image ------------------------------------------------------------------


def device_config(path, **keys):
    values = dict(CONFIG_AWS_ACCESS_KEY=ACCESS_KEY, CONFIG_AWS_SECRET_KEY=SECRET,
                  CONFIG_AWS_REGION="eu-west-1", CONFIG_AWS_LAMBDA_FUNCTION="mpaws-notify",
                  CONFIG_AWS_SNS_TOPIC_ARN="arn:aws:sns:eu-west-1:123456789012:mpaws-topic",
                  CONFIG_WIFI_SSID="lab", CONFIG_WIFI_PASSWORD=WIFI_PASSWORD)
    values.update(keys)
    return write(path, "".join("%s = %r\n" % kv for kv in values.items()).encode())


def test_config_goes_in_mode_600_and_is_never_printed(tmp_path):
    config = device_config(tmp_path / "config.py")
    out = write(tmp_path / "device.bin", b"old")
    os.chmod(out, 0o644)  # an earlier image without a config
    out, proc = build_image(tmp_path, firmware(), "--config", config)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert "config.py" in proc.stdout and "device.bin HOLDS ITS SECRETS (mode 600)" in proc.stdout
    files, _ = lfs_files(read(out), 0x200000, 0x200000)
    assert files["config.py"] == read(config)
    assert set(files) == set(deployed()) | {"config.py"}
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_config_refused_by_key_name_without_its_value(tmp_path):
    config = device_config(tmp_path / "config.py", CONFIG_AWS_REGION="eu west 1")
    fw = write(tmp_path / "fw.bin", firmware())
    proc = tool("build", "--firmware", fw, "--config", config, "--out", str(tmp_path / "device.bin"))
    assert proc.returncode == 2 and "CONFIG_AWS_REGION" in proc.stderr, proc.stderr
    assert not os.path.exists(tmp_path / "device.bin")
    proc = tool("build", "--firmware", fw, "--config", str(tmp_path / "none.py"), "--out", str(tmp_path / "d.bin"))
    assert proc.returncode == 2 and "none.py: no such file" in proc.stderr


def test_config_ca_missing_from_the_image(tmp_path):
    """firmware/certs/README.md exists (the config validates on the host) but make build does
    not copy it: the board would not find it."""
    config = device_config(tmp_path / "config.py", CONFIG_TLS_CA="/certs/README.md")
    fw = write(tmp_path / "fw.bin", firmware())
    proc = tool("build", "--firmware", fw, "--config", config, "--out", str(tmp_path / "d.bin"))
    assert proc.returncode == 2 and "CONFIG_TLS_CA" in proc.stderr and "does not hold" in proc.stderr, proc.stderr
    assert not os.path.exists(tmp_path / "d.bin")


def test_files_the_config_names_on_the_board_go_in_beside_it(tmp_path):
    """Certificate auth with a private CA: CONFIG_TLS_CA, CONFIG_TLS_CERT and CONFIG_TLS_KEY
    name board paths (absolute or relative to the board's /); the files beside config.py go
    into the image at those paths, and `make provision` copies the same files."""
    (tmp_path / "certs").mkdir()
    contents = {"ca.der": b"0\x82\x01private CA", "certs/dev.cert.pem": b"-----BEGIN CERTIFICATE-----\nMIIB\n",
                "dev.key.pem": b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIKeyContentNeverPrinted\n"}
    for name, content in contents.items():
        write(tmp_path / name, content)
    config = device_config(tmp_path / "config.py", CONFIG_AWS_ACCESS_KEY=None, CONFIG_AWS_SECRET_KEY=None,
                           CONFIG_AWS_CREDENTIALS_ENDPOINT="abc.credentials.iot.eu-west-1.amazonaws.com",
                           CONFIG_AWS_ROLE_ALIAS="mpaws-device", CONFIG_AWS_THING_NAME="mpaws-device",
                           CONFIG_TLS_CA="/ca.der", CONFIG_TLS_CERT="/certs/dev.cert.pem",
                           CONFIG_TLS_KEY="dev.key.pem")
    out, proc = build_image(tmp_path, firmware(entries=GENERIC_V126), "--config", config)
    assert "KeyContentNeverPrinted" not in proc.stdout + proc.stderr
    files, _ = lfs_files(read(out), 0x200000, 0x200000)
    assert {name: files[name] for name in contents} == contents
    assert set(files) == set(deployed()) | set(contents) | {"config.py"}
    commands, _, _ = board.provision_plan(PORT, config=config)
    copied = [argv[-1] for argv in commands if "cp" in argv and ":config.py" not in argv]
    assert sorted(copied) == [":/ca.der", ":/certs/dev.cert.pem", ":dev.key.pem"], commands
    os.remove(tmp_path / "ca.der")  # neither beside config.py nor among the deployed files
    fw = write(tmp_path / "fw.bin", firmware(entries=GENERIC_V126))
    proc = tool("build", "--firmware", fw, "--config", config, "--out", str(tmp_path / "d.bin"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "CONFIG_TLS_CA of %s is /ca.der, which the image does not hold: put ca.der beside" % config in proc.stderr


# -- refusals --------------------------------------------------------------------------------


def _refused(tmp_path, data, *words, flash_size="4MB"):
    fw = write(tmp_path / "fw.bin", data)
    out = tmp_path / "device.bin"
    proc = tool("build", "--firmware", fw, "--out", str(out), "--flash-size", flash_size)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    for word in words:
        assert word in proc.stderr, (word, proc.stderr)
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert not out.exists()
    return proc.stderr


def test_refuses_what_is_not_an_esp32_image(tmp_path):
    _refused(tmp_path, b"<!doctype html><html>MicroPython downloads</html>", "not an ESP32 firmware image")
    _refused(tmp_path, b"\x7fELF" + os.urandom(4000), "not an ESP32 firmware image")
    fw = bytearray(firmware())
    fw[40] ^= 0xFF  # a byte of the bootloader's first segment: esptool's checksum no longer matches
    _refused(tmp_path, bytes(fw), "not a valid esp32 image", "checksum does not match")
    fw = bytearray(firmware())
    fw[1] = 40  # 40 segments in the header: esptool's parser runs out of file
    _refused(tmp_path, bytes(fw), "not a valid esp32 image", "esptool")


def test_refuses_a_fat_filesystem_partition(tmp_path):
    """TinyUF2's tables: "ffat", which MicroPython mounts as FAT in 512-byte blocks (and then
    makes no "vfs" at boot)."""
    entries = GENERIC_V126 + [(1, 0x81, 0x200000, 0x200000, "ffat")]
    err = _refused(tmp_path, firmware(entries=entries), "'ffat'", "FAT", "make flash, deploy and provision")
    assert "ESP32_GENERIC" not in err


def test_refuses_a_filesystem_too_small_for_the_files(tmp_path):
    entries = GENERIC_4MB[:3] + [(1, 0x81, 0x200000, 0x8000, "vfs")]  # 32 KB: less than the files
    err = _refused(tmp_path, firmware(entries=entries), "too small for the", "'vfs' (32 KB)", "more room")
    total = sum(len(c) for c in deployed().values())
    assert "the %d files (%d KB, which take " % (len(deployed()), total // 1024) in err
    entries = GENERIC_V126[:2] + [(0, 0x00, 0x10000, 0x3E0000, "factory")]  # v1.26+: 64 KB left on 4 MB
    _refused(tmp_path, firmware(entries=entries), "'vfs' (64 KB) is too small", "the firmware makes it from "
             "0x3f0000 to the end of the flash: a board with more flash has more (FLASH_SIZE=)")


def test_refuses_a_damaged_or_cut_firmware(tmp_path):
    table = bytearray(partition_table(GENERIC_4MB))
    table[40] ^= 1  # the factory partition's offset: the table's MD5 entry no longer matches
    _refused(tmp_path, firmware(table=bytes(table)), "fails its MD5 check")
    _refused(tmp_path, firmware()[:0x7000], "no partition table")  # the bootloader alone
    _refused(tmp_path, firmware()[:0xF000], "ends before its application")
    _refused(tmp_path, firmware()[:0xF000 + 5000], "(its application at 0x10000) is cut short")


def test_refuses_without_firmware(tmp_path):
    proc = tool("build", "--out", str(tmp_path / "d.bin"))
    assert proc.returncode == 2 and "FIRMWARE is missing" in proc.stderr and "make image FIRMWARE=" in proc.stderr
    proc = tool("build", "--firmware", str(tmp_path / "nope.bin"))
    assert proc.returncode == 2 and "no such file" in proc.stderr


# -- the make targets --------------------------------------------------------------------------


def test_make_image_and_flash_image_dry_run(tmp_path):
    fw = write(tmp_path / "ESP32_GENERIC-20250911-v1.26.1.bin", firmware())
    config = device_config(tmp_path / "config.py")
    out = str(tmp_path / "dev 1.bin")  # a space: passed through as one word
    proc = make("image", "FIRMWARE=" + fw, "CONFIG=" + config, "OUT=" + out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert os.path.isdir(BUILD) and not os.path.exists(os.path.join(REPO, "dev 1.bin"))  # OUT is only the image
    files, _ = lfs_files(read(out), 0x200000, 0x200000)
    assert set(files) == set(deployed()) | {"config.py"}
    proc = make("flash-image", "PORT=" + PORT, "IMAGE=" + out, "DRY_RUN=1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import shlex

    esptool = [".venv/bin/esptool", "--chip", "esp32", "--port", PORT]
    assert [shlex.split(line) for line in proc.stdout.splitlines()] == [
        esptool + ["flash-id"], esptool + ["--baud", "460800", "write-flash", "0x0", out]]
    assert "holds config.py" in proc.stderr and "made for a flash of 4MB or more" in proc.stderr
    # v1.26+: FLASH_SIZE= decides where the filesystem goes, and the image is that long.
    fw = write(tmp_path / "ESP32_GENERIC-20250911-v1.26.1.bin", firmware(entries=GENERIC_V126))
    proc = make("image", "FIRMWARE=" + fw, "OUT=" + out)
    assert proc.returncode == 0 and os.path.getsize(out) == 4 * MB, proc.stdout + proc.stderr
    assert "note: FLASH_SIZE not given: made for a 4MB flash" in proc.stderr
    proc = make("image", "FIRMWARE=" + fw, "FLASH_SIZE=16MB", "OUT=" + out)
    assert proc.returncode == 0 and os.path.getsize(out) == 16 * MB, proc.stdout + proc.stderr
    assert "FLASH_SIZE not given" not in proc.stderr
    proc = make("flash-image", "PORT=" + PORT, "IMAGE=" + out, "DRY_RUN=1")
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 2, proc.stdout + proc.stderr
    assert "is made for a 16MB flash; esptool flash-id reads the board's" in proc.stderr
    proc = make("image", "FIRMWARE=" + fw, "FLASH_SIZE=16M", "OUT=" + out)
    tool_lines = [line for line in proc.stderr.splitlines() if not line.startswith("make: ")]
    assert proc.returncode == 2 and len(tool_lines) == 1, proc.stderr
    assert tool_lines[0].startswith("error: FLASH_SIZE 16M: not a flash size; give the board's as 1MB, 2MB, 4MB, ")


def test_flash_image_refuses_a_firmware_bin_and_a_missing_port(tmp_path):
    fw = write(tmp_path / "fw.bin", firmware())
    proc = tool("--dry-run", "flash", "--port", PORT, "--image", fw)  # a .bin for 0x1000, not an image for 0x0
    assert proc.returncode == 2 and "not a whole-flash image made by `make image`" in proc.stderr, proc.stderr
    assert proc.stdout == ""
    out, _ = build_image(tmp_path, firmware("esp32s3"))
    proc = tool("--dry-run", "flash", "--port", PORT, "--image", out)
    assert proc.returncode == 0 and "--chip esp32s3" in proc.stdout and "has no config.py" in proc.stderr
    proc = tool("--dry-run", "flash", "--image", out)
    assert proc.returncode == 2 and "PORT is missing" in proc.stderr
    proc = tool("--dry-run", "flash", "--port", PORT)
    assert proc.returncode == 2 and "IMAGE is missing" in proc.stderr


def test_fleet_one_image_per_device_config(tmp_path):
    """One config per device (as tools/cloud.py deploy --name writes them): one image each,
    the same but for config.py, each mode 600."""
    fw = write(tmp_path / "fw.bin", firmware())
    images = {}
    for n in (1, 2):
        config = device_config(tmp_path / ("door-%d.py" % n), CONFIG_AWS_ACCESS_KEY="AKIAIMAGETESTDOOR%03d" % n)
        out = str(tmp_path / ("door-%d.bin" % n))
        proc = tool("build", "--firmware", fw, "--config", config, "--out", out)
        assert proc.returncode == 0 and stat.S_IMODE(os.stat(out).st_mode) == 0o600, proc.stderr
        images[n] = lfs_files(read(out), 0x200000, 0x200000)[0]
        assert images[n]["config.py"] == read(config)
    configs = [images[n].pop("config.py") for n in (1, 2)]
    assert images[1] == images[2] == deployed() and configs[0] != configs[1]


# -- make flash-image reads the board's flash size first ---------------------------------------

# What `esptool --chip esp32 --port /dev/ttyUSB0 flash-id` (esptool 5.6.0) prints for an
# ESP32 with a 16 MB Winbond W25Q128 flash; its "Flash Memory Information" block is checked
# against esptool's own code below.
FLASH_ID_16MB = """esptool v5.6.0
Connected to ESP32 on /dev/ttyUSB0:
Chip type:          ESP32-D0WD-V3 (revision v3.1)
Features:           Wi-Fi, BT, Dual Core + LP Core, 240MHz, Vref calibration in eFuse, Coding Scheme None
Crystal frequency:  40MHz
MAC:                24:0a:c4:12:34:56

Uploading stub flasher...
Running stub flasher...
Stub flasher running.

Flash Memory Information:
=========================
Manufacturer: ef
Device: 4018
Detected flash size: 16MB
Flash voltage set by a strapping pin: 3.3V

Hard resetting via RTS pin...
"""
# The same command with an older esptool (v3.1), a GigaDevice 8 MB flash.
FLASH_ID_8MB_ESPTOOL3 = """esptool.py v3.1
Serial port /dev/ttyUSB0
Connecting........_____....._____....._____.
Detecting chip type... ESP32
Chip is ESP32-D0WD-V3 (revision 3)
Uploading stub...
Running stub...
Stub running...
Manufacturer: c8
Device: 4017
Detected flash size: 8MB
Hard resetting via RTS pin...
"""


class StandInLoader(image.RecordedFlashId):
    """The part of esptool's ESPLoader its flash_id command reads, for a flash chip id."""
    CHIP_NAME = "ESP32"

    def flash_type(self):
        return None

    def get_flash_voltage(self):
        from esptool.util import NotSupportedError

        raise NotSupportedError(self, "get_flash_voltage")


def esptool_flash_id_block(jedec_id):
    """What esptool 5.6.0's own flash-id command prints for a flash chip id."""
    import contextlib
    import io

    from esptool import cmds

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cmds.flash_id(StandInLoader(jedec_id))
    return out.getvalue()


def test_recorded_flash_id_is_what_esptool_prints():
    block = esptool_flash_id_block(0x1840EF)  # W25Q128: ef 40 18
    assert block in FLASH_ID_16MB, block


@pytest.mark.parametrize("output,size", [(FLASH_ID_16MB, 16 * MB), (FLASH_ID_8MB_ESPTOOL3, 8 * MB),
                                         (esptool_flash_id_block(0x1640C8), 4 * MB),
                                         (esptool_flash_id_block(0x01461F), 2 * MB)])  # Adesto: its own table
def test_board_flash_size_decoded_by_esptool(output, size):

    assert image.flash_size_from_flash_id(output) == size


def test_board_flash_size_unknown_or_missing():
    from board import BoardError

    with pytest.raises(BoardError, match="esptool does not know the size of the board's flash chip "
                                         r"\(manufacturer c8, device 4011\)"):
        image.flash_size_from_flash_id(esptool_flash_id_block(0x1140C8))
    with pytest.raises(BoardError, match="printed no flash id"):
        image.flash_size_from_flash_id("A fatal error occurred: Failed to connect to ESP32: No serial data received.")


STAND_IN_ESPTOOL = """#!%s
# esptool for the tests: flash-id prints a board's recorded output; write-flash is logged.
import sys

with open(%r, "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
if "flash-id" in sys.argv:
    sys.stdout.write(open(%r).read())
    sys.exit(%d)
"""


@pytest.fixture
def board_with(tmp_path, monkeypatch):
    """board_with(flash-id output[, status]): a stand-in esptool in the board tools' place
    that prints that output for flash-id; returns (the log of its command lines, PORT)."""
    def make_board(output, status=0):
        (tmp_path / "ttyUSB0").touch()  # the serial port (PORT must exist)
        folder = tmp_path / "board-bin"
        folder.mkdir(exist_ok=True)
        recorded, log = folder / "flash-id.txt", folder / "commands.log"
        recorded.write_text(output)
        log.write_text("")
        path = folder / "esptool"
        path.write_text(STAND_IN_ESPTOOL % (sys.executable, str(log), str(recorded), status))
        path.chmod(0o755)
        monkeypatch.setattr(board, "BOARD_BIN", str(folder))
        return log, str(tmp_path / "ttyUSB0")
    return make_board


def test_flash_image_refuses_a_board_of_another_flash_size(tmp_path, board_with):
    """A v1.26+ image for 4 MB, and a board whose flash-id says 16 MB: nothing written."""
    out, _, _, _, _ = layout_image(tmp_path, "v1.26-4MB")
    log, tty = board_with(FLASH_ID_16MB)
    proc = tool("flash", "--port", tty, "--image", out)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Detected flash size: 16MB" in proc.stdout  # esptool's output, shown
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: the board on %s has a 16MB flash; IMAGE %s is made for a 4MB flash (the firmware would "
                      "make its filesystem from 0x200000 to the end of the flash, with another block count: it would "
                      "not mount it, and would stop at boot with \"The filesystem appears to be corrupted\"): make the "
                      "image again with make image FLASH_SIZE=16MB" % (tty, out)], proc.stderr
    assert "Traceback" not in proc.stderr
    assert log.read_text().splitlines() == ["--chip esp32 --port %s flash-id" % tty]  # no write-flash


def test_flash_image_writes_to_a_board_of_its_flash_size(tmp_path, board_with):
    out, _, _, _, _ = layout_image(tmp_path, "v1.26-16MB")
    log, tty = board_with(FLASH_ID_16MB)
    proc = tool("flash", "--port", tty, "--image", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert log.read_text().splitlines() == ["--chip esp32 --port %s flash-id" % tty,
                                            "--chip esp32 --port %s --baud 460800 write-flash 0x0 %s" % (tty, out)]
    # v1.22 to v1.25: the table's vfs is the same on any flash that holds it.
    out, _, _, _, _ = layout_image(tmp_path, "v1.25-4MB")
    log, _ = board_with(FLASH_ID_8MB_ESPTOOL3)
    assert tool("flash", "--port", tty, "--image", out).returncode == 0
    assert log.read_text().splitlines()[-1].endswith("write-flash 0x0 %s" % out)
    log, _ = board_with(esptool_flash_id_block(0x01461F))  # 2 MB: the table's vfs ends at 4 MB
    proc = tool("flash", "--port", tty, "--image", out)
    assert proc.returncode == 2 and "the board on %s has a 2MB flash; IMAGE %s is made for a flash of 4MB or more" % (
        tty, out) in proc.stderr, proc.stderr
    assert "write-flash" not in log.read_text()


def test_flash_image_when_esptool_cannot_read_the_board(tmp_path, board_with):
    out, _, _, _, _ = layout_image(tmp_path, "v1.26-4MB")
    log, tty = board_with("A fatal error occurred: Failed to connect to ESP32: No serial data received.\n", status=2)
    proc = tool("flash", "--port", tty, "--image", out)
    assert proc.returncode == 2, proc.stderr
    assert ("error: esptool flash-id failed (exit status 2: A fatal error occurred: Failed to connect to ESP32: No "
            "serial data received.): the board on %s was not read, nothing written" % tty) in proc.stderr
    assert "write-flash" not in log.read_text()


class StandInBootloader:
    """An ESP32 in its serial bootloader as esptool sees it, on `--port socket://HOST:PORT`
    (pyserial's TCP port): SLIP frames, the ROM's commands, esptool's stub uploaded and
    started ("OHAI"), register reads (the chip's magic number, eFuses as zeros, the flash's
    JEDEC id in SPI_W0 after a flash command), compressed writes into a flash of flash_size
    bytes, and their MD5. Each esptool run is one connection."""
    SPI_BASE = 0x3FF42000  # the ESP32's SPI_REG_BASE (esptool's targets/esp32.py)
    REGISTERS = {0x40001000: 0x00F01D83}  # CHIP_DETECT_MAGIC_REG_ADDR: an ESP32

    def __init__(self, jedec_id, flash_size):
        import socket
        import threading

        self.jedec_id, self.flash = jedec_id, bytearray(b"\xff" * flash_size)
        self.commands = []  # (connection number, command code)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = "socket://127.0.0.1:%d" % self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        connection = 0
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            connection += 1
            with conn:
                try:
                    self._serve(conn, connection)
                except OSError:
                    pass

    @staticmethod
    def _frames(conn):
        frame = None
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return
            for byte in chunk:
                if byte == 0xC0:
                    if frame:
                        yield bytes(frame).replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")
                    frame = bytearray()
                elif frame is not None:
                    frame.append(byte)

    def _serve(self, conn, connection):
        import zlib

        def send(data):
            conn.sendall(b"\xc0" + data.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0")

        stub, written, inflate = False, 0, None
        for frame in self._frames(conn):
            if len(frame) < 8 or frame[0] != 0:
                continue
            op, size = frame[1], struct.unpack("<H", frame[2:4])[0]
            data, value, reply = frame[8:8 + size], 0, b""
            self.commands.append((connection, op))
            status = b"\0\0" if stub else b"\0\0\0\0"
            if op == 0x08:  # SYNC: the ROM answers several times
                for _ in range(8):
                    send(struct.pack("<BBHI", 1, op, 4, 0x20120707) + status)
                continue
            if op == 0x14 and not stub:  # GET_SECURITY_INFO: not in the ESP32's ROM
                status = b"\x01\x05\0\0"
            elif op == 0x0A:  # READ_REG
                address = struct.unpack("<I", data[:4])[0]
                value = self.jedec_id if address == self.SPI_BASE + 0x80 else self.REGISTERS.get(address, 0)
            elif op == 0x10:  # FLASH_DEFL_BEGIN: size, blocks, block size, offset
                written, inflate = struct.unpack("<IIII", data[:16])[3], zlib.decompressobj()
            elif op == 0x11:  # FLASH_DEFL_DATA
                chunk = inflate.decompress(data[16:])
                self.flash[written:written + len(chunk)] = chunk
                written += len(chunk)
            elif op == 0x13:  # SPI_FLASH_MD5
                address, length = struct.unpack("<II", data[:8])
                digest = hashlib.md5(self.flash[address:address + length])
                reply = digest.digest() if stub else digest.hexdigest().encode()
            send(struct.pack("<BBHI", 1, op, len(reply + status), value) + reply + status)
            if op == 0x06:  # MEM_END: the uploaded stub starts and says so
                send(b"OHAI")
                stub = True

    def close(self):
        self.server.close()


@pytest.fixture
def bootloader():
    """bootloader(JEDEC id, flash size): a StandInBootloader, closed after the test."""
    made = []

    def make_bootloader(jedec_id, flash_size):
        made.append(StandInBootloader(jedec_id, flash_size))
        return made[-1]
    yield make_bootloader
    for stand_in in made:
        stand_in.close()


def test_flash_image_with_esptool_against_a_stand_in_bootloader(tmp_path, bootloader):
    """The real esptool: flash-id reads a 16 MB flash, the 4 MB image is refused and nothing
    is written; the 16 MB image is written at 0x0 (esptool checks its MD5 on the board)."""
    board16 = bootloader(0x1840EF, 16 * MB)  # W25Q128
    out4, _, _, _, _ = layout_image(tmp_path, "v1.26-4MB")
    proc = tool("flash", "--port", board16.port, "--image", out4)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Manufacturer: ef\nDevice: 4018\nDetected flash size: 16MB\n" in proc.stdout
    assert "error: the board on %s has a 16MB flash; IMAGE %s is made for a 4MB flash" % (board16.port, out4) in (
        proc.stderr) and "make image FLASH_SIZE=16MB" in proc.stderr, proc.stderr
    assert {connection for connection, _ in board16.commands} == {1} and 0x11 not in dict(board16.commands).values()
    assert board16.flash == b"\xff" * 16 * MB
    out16, _, _, _, _ = layout_image(tmp_path, "v1.26-16MB")
    proc = tool("flash", "--port", board16.port, "--image", out16)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert board16.flash == read(out16)
    written = [op for connection, op in board16.commands if connection == 3]  # flash-id was 2
    assert written.count(0x11) > 1 and written[-1] == 0x13  # the blocks, then the MD5 esptool checks


# -- bad input: one line naming the problem, exit status 2 ---------------------------------------


def test_refuses_a_firmware_cut_short(tmp_path):
    """A download that did not finish: esptool's parser reads past the end of the file."""
    fw = firmware(entries=GENERIC_V126)
    for cut in (1, 16, 40, 200):
        _refused(tmp_path, fw[:-cut], "(its application at 0x10000) is cut short", "download it again")


@pytest.mark.parametrize("size", ["3MB", "4M", "4MiB", "4194304", "four", "0MB", "256MB"])
def test_refuses_an_unknown_flash_size(tmp_path, size):
    fw = write(tmp_path / "fw.bin", firmware(entries=GENERIC_V126))
    proc = tool("build", "--firmware", fw, "--flash-size", size, "--out", str(tmp_path / "d.bin"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: FLASH_SIZE %s: not a flash size; give the board's as 1MB, 2MB, 4MB, 8MB, "
                                  "16MB, 32MB, 64MB, 128MB" % size)
    assert not os.path.exists(tmp_path / "d.bin")


def test_refuses_a_filesystem_larger_than_the_flash(tmp_path):
    entries = GENERIC_V126 + [(1, 0x81, 0x200000, 0x7FFF0000, "vfs")]  # 2 GB
    _refused(tmp_path, firmware(entries=entries), "'vfs' partition of FIRMWARE", "(0x200000, 2097088 KB) runs past "
             "the end of a 4MB flash", "FLASH_SIZE=")
    _refused(tmp_path, firmware(entries=OTA_V126), "partitions of FIRMWARE", "run to flash 0x4f0000: no room for the "
             "filesystem the firmware makes at boot from there to the end of a 4MB flash", "FLASH_SIZE=8MB")
    entries = OTA_8MB[:-1] + [(1, 0x99, 0x5F0000, 0x7FFF0000, "extra")]  # another partition past the end
    _refused(tmp_path, firmware(entries=entries), "run to flash 0x805e0000, past the end of an 8MB flash",
             flash_size="8MB")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_refuses_an_image_larger_than_memory(tmp_path):
    """A 128 MB flash, in a process allowed 320 MB of address space: MemoryError, said in
    one line."""

    fw = write(tmp_path / "fw.bin", firmware(entries=GENERIC_V126))
    script = ("import resource, sys; sys.path[:0] = [%r, %r]; import image, littlefs, esptool.bin_image; "
              "resource.setrlimit(resource.RLIMIT_AS, (320 << 20, 320 << 20)); "
              "sys.exit(image.main(sys.argv[1:]))" % (os.path.join(REPO, "tools"), os.path.join(REPO, "host_tests")))
    proc = subprocess.run([sys.executable, "-c", script, "build", "--firmware", fw, "--flash-size", "128MB", "--out",
                           str(tmp_path / "d.bin")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: not enough memory to hold the image"), proc.stderr
    assert proc.stderr.count("\n") == 1 and not os.path.exists(tmp_path / "d.bin")


def test_flash_image_refuses_a_damaged_filesystem(tmp_path, board_with):
    out, _, _, (fs_offset, _), _ = layout_image(tmp_path, "v1.26-4MB")
    data = bytearray(read(out))
    for block in (0, 1):  # both copies of the superblock's metadata pair, past the magic
        at = fs_offset + block * 4096 + 24
        data[at:at + 64] = bytes(b ^ 0x5A for b in data[at:at + 64])
    write(out, bytes(data))
    log, tty = board_with(FLASH_ID_16MB)
    proc = tool("flash", "--port", tty, "--image", out)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: IMAGE %s: its LittleFS filesystem at 0x200000 does not mount (littlefs "
                                  "error -84, corrupt: damaged, or made for another partition size)" % out)
    assert log.read_text() == ""  # the board is not even read
    for cut in (3 * MB, 2 * MB):  # no longer the length of a flash; no room for a filesystem
        write(out, bytes(data[:cut]))
        proc = tool("flash", "--port", tty, "--image", out)
        assert proc.returncode == 2 and "is %d bytes, not the size of a flash: cut short" % cut in proc.stderr, \
            proc.stderr
