"""Works with a real ESP32 on USB serial: writes MicroPython, deploys the firmware, copies
config.py, and runs the REPL trigger. The Makefile's board targets call it.

    python tools/board.py flash --port PORT --firmware FILE.bin [--chip CHIP] [--baud N]
    python tools/board.py deploy --port PORT [--build build/firmware]
    python tools/board.py provision --port PORT [--config firmware/config.py | --env-file .env]
    python tools/board.py repl --port PORT
    python tools/board.py notify --port PORT --subject TEXT --body TEXT
    python tools/board.py status --port PORT
    python tools/board.py interrupt --port PORT   (after a reset: Ctrl-C in main.py's start-up grace)
    python tools/board.py package-json       (rewrites package.json after a library file was added)

Each command runs esptool or mpremote from .venv/bin (requirements-board.txt) and prints
every command before it runs it; with --dry-run it only prints them, exactly as they would
run, one per line on stdout (notes go to stderr), and needs neither a board nor the tools.

The watchdog that main.py starts cannot be stopped, not even by the soft reset mpremote
makes before its first command: stopped by mpremote's Ctrl-C in the middle of its loop,
the board restarts CONFIG_WATCHDOG_S later, whatever it is doing then. So deploy,
provision and notify first reset the board (`mpremote reset`), then stop main.py with a
Ctrl-C while it waits CONFIG_START_DELAY_S before starting the watchdog (`board.py
interrupt`), do their work at a REPL with no watchdog, and reset the board again at the
end so that it runs the application. status attaches without mpremote's soft reset
(`mpremote resume`), so app.status() shows the running application's WiFi, outbox and last
error; it then resets the board, since its Ctrl-C stopped the application.

A secret (the AWS secret key, a session token, the WiFi password) is never printed: config
problems are reported by key name, as the firmware's own loader (mpaws.settings) words them.
"""
import argparse
import ast
import os
import shlex
import subprocess
import sys
import time
import types

SCRIPT = os.path.abspath(__file__)
REPO = os.path.dirname(os.path.dirname(SCRIPT))
BOARD_BIN = os.path.join(REPO, ".venv", "bin")
BUILD = os.path.join(REPO, "build", "firmware")
CONFIG = os.path.join(REPO, "firmware", "config.py")
ENV_FILE = os.path.join(REPO, ".env")
TEMPLATE = os.path.join(REPO, "firmware", "config_template.py")
GENERATED_CONFIG = os.path.join(REPO, "build", "provision", "config.py")
FIRMWARE_LIB = os.path.join(REPO, "firmware", "lib")

# Where MicroPython's .bin goes, per chip: the flash_offset of each ESP32_GENERIC* board in
# MicroPython's ports/esp32/boards/*/board.json (the offsets its download pages give).
FLASH_OFFSETS = {
    "esp32": 0x1000,
    "esp32s2": 0x1000,
    "esp32s3": 0x0,
    "esp32c2": 0x0,
    "esp32c3": 0x0,
    "esp32c6": 0x0,
    "esp32c5": 0x2000,
    "esp32p4": 0x2000,
}
# The chip id in an ESP-IDF image header (byte 12, little-endian), as esptool's
# targets/*.py IMAGE_CHIP_ID: a MicroPython .bin says which chip it was built for.
IMAGE_CHIP_IDS = {0: "esp32", 2: "esp32s2", 5: "esp32c3", 9: "esp32s3", 12: "esp32c2", 13: "esp32c6",
                  18: "esp32p4", 23: "esp32c5"}
ESP_IMAGE_MAGIC = 0xE9
DEFAULT_BAUD = 460800
DOWNLOADS = "https://micropython.org/download/?port=esp32"

# Files of build/firmware that never go to a board: config.py comes from `provision`
# (a compiled copy would hold the secret), the template is for people, not the device.
NOT_DEPLOYED = ("config.py", "config.mpy", "config_template.py", "config_template.mpy")
# Started last, so that a deploy cut short never boots a new main.py on an old library.
STARTUP_FILES = ("boot.py", "main.py")
# Keys a copied template must not keep: its values there are examples, not a working setup.
TEMPLATE_EXAMPLES = ("CONFIG_AWS_ACCESS_KEY", "CONFIG_AWS_SECRET_KEY", "CONFIG_AWS_SNS_TOPIC_ARN", "CONFIG_WIFI_SSID",
                     "CONFIG_WIFI_PASSWORD")


# The secret access keys AWS issues are 40 characters long.
SECRET_KEY_LENGTH = 40
# main.py's line before its start-up grace (mpaws.device), and the friendly REPL's prompt.
START_LINE = b"mpaws: starting in "
STOPPED_LINE = b"mpaws: stopped"  # main.py gave up by itself (a config.py problem): no watchdog
PROMPT = b">>> "
INTERRUPT_TIMEOUT_S = 30  # for the board to reach its REPL after the reset
START_LINE_WAIT_S = 6  # for the start-up line; then Ctrl-C without it
CTRL_C_EVERY_S = 0.1


class BoardError(Exception):
    """A problem the user fixes (printed as `error: ...`, exit status 2)."""


class Command(list):
    """An argv, printed and run as it is. may_fail: what to say when it fails, the commands
    after it running anyway; always: it runs even after an earlier command failed."""

    def __init__(self, argv, may_fail=None, always=False):
        super().__init__(argv)
        self.may_fail = may_fail
        self.always = always


def shown(path):
    """A path as the user should type it: relative to the current directory when inside it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def tool(name):
    return shown(os.path.join(BOARD_BIN, name))


def mpremote(port, *commands):
    """One mpremote invocation: `connect PORT`, then the commands chained with `+`."""
    argv = [tool("mpremote"), "connect", port]
    for i, command in enumerate(commands):
        argv += (["+"] if i else []) + list(command)
    return argv


RESET = ("reset",)  # mpremote's shortcut: machine.reset(), a hard reset (the watchdog stops)


def stopped_before_watchdog(port):
    """The commands that leave the board at its REPL with no watchdog running: a hard reset
    (mpremote reset: machine.reset()), then a Ctrl-C in main.py's start-up grace."""
    return [Command(mpremote(port, RESET),
                    may_fail="the board did not answer (asleep in deep sleep, or busy): press its RST/EN button "
                             "now; the next command waits for it"),
            Command([tool("python"), shown(SCRIPT), "interrupt", "--port", port])]


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def python_string(text):
    """text as an ASCII-only Python string literal that MicroPython and CPython read back
    exactly (so it survives any terminal, shell or serial encoding on the way)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif 32 <= code < 127:
            out.append(ch)
        elif code < 0x100:
            out.append("\\x%02x" % code)
        elif code < 0x10000:
            out.append("\\u%04x" % code)
        else:
            out.append("\\U%08x" % code)
    out.append('"')
    return "".join(out)


def _text_arg(name, text):
    if not text:
        raise BoardError("%s is empty: make notify PORT=/dev/ttyUSB0 SUBJECT='Door' BODY='The door opened'" % name)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BoardError("%s is not valid UTF-8 text" % name)
    return text


# -- flash ---------------------------------------------------------------------------------

def image_chip(firmware):
    """The chip a MicroPython .bin was built for (from its image header); BoardError when the
    file is missing or is not an ESP32 image (a saved web page, a .uf2, an .elf, ...)."""
    if not firmware:
        raise BoardError("FIRMWARE is missing: download the .bin for your board from %s, then\n"
                         "  make flash PORT=/dev/ttyUSB0 FIRMWARE=ESP32_GENERIC-<date>-v1.xx.bin" % DOWNLOADS)
    if not os.path.isfile(firmware):
        raise BoardError("FIRMWARE %s: no such file (download the .bin from %s)" % (firmware, DOWNLOADS))
    with open(firmware, "rb") as f:
        header = f.read(16)
    if len(header) < 16 or header[0] != ESP_IMAGE_MAGIC:
        raise BoardError("FIRMWARE %s is not an ESP32 firmware image (it should start with byte 0xE9): download "
                         "the .bin (not .uf2, .elf or the web page) from %s" % (firmware, DOWNLOADS))
    chip_id = header[12] | header[13] << 8
    return IMAGE_CHIP_IDS.get(chip_id)


def flash_commands(port, firmware, chip=None, baud=DEFAULT_BAUD):
    built_for = image_chip(firmware)
    if chip:
        chip = chip.lower().replace("-", "").replace("_", "")
        if chip not in FLASH_OFFSETS:
            raise BoardError("CHIP %s: not one of %s" % (chip, ", ".join(sorted(FLASH_OFFSETS))))
        if built_for and built_for != chip:
            raise BoardError("FIRMWARE %s is built for %s, not CHIP=%s: download the .bin for your chip, or fix CHIP"
                             % (firmware, built_for, chip))
    elif built_for:
        chip = built_for
    else:
        raise BoardError("cannot tell which chip FIRMWARE %s is for: give CHIP= (one of %s)"
                         % (firmware, ", ".join(sorted(FLASH_OFFSETS))))
    esptool = [tool("esptool"), "--chip", chip, "--port", port]
    return [esptool + ["erase-flash"],
            esptool + ["--baud", str(baud), "write-flash", "0x%x" % FLASH_OFFSETS[chip], firmware]]


# -- deploy --------------------------------------------------------------------------------

def deployed_files(build):
    """(board path, local path) of every file `make build` wrote, startup files last."""
    if not os.path.isdir(build):
        raise BoardError("%s does not exist: run `make build` (make deploy does)" % shown(build))
    files = []
    for folder, dirs, names in os.walk(build):
        dirs.sort()
        for name in sorted(names):
            local = os.path.join(folder, name)
            target = os.path.relpath(local, build).replace(os.sep, "/")
            if target not in NOT_DEPLOYED:
                files.append((target, local))
    if not files:
        raise BoardError("%s is empty: run `make build`" % shown(build))
    return sorted(files, key=lambda item: (STARTUP_FILES.index(item[0]) + 1 if item[0] in STARTUP_FILES else 0,
                                           item[0]))


def prepare_script(targets):
    """MicroPython code run on the board before the copy: creates the folders, and removes a
    .py left beside each .mpy (MicroPython imports x.py before x.mpy, so an old source copy,
    e.g. from mip, would hide the new bytecode)."""
    folders = []
    for target in targets:
        parts = target.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folder = "/".join(parts[:i])
            if folder not in folders:
                folders.append(folder)
    shadowed = [t[:-4] + ".py" for t in targets if t.endswith(".mpy")]
    lines = ["import os"]
    if folders:
        lines += ["for d in (%s,):" % ", ".join(python_string(d) for d in folders),
                  " try:", "  os.mkdir(d)", " except OSError:", "  pass"]
    if shadowed:
        lines += ["for f in (%s,):" % ", ".join(python_string(f) for f in shadowed),
                  " try:", "  os.remove(f)", " except OSError:", "  pass"]
    return "\n".join(lines)


def deploy_commands(port, build=BUILD):
    files = deployed_files(build)
    commands = [("exec", prepare_script([target for target, _ in files]))]
    commands += [("fs", "cp", shown(local), ":" + target) for target, local in files]
    # The reset at the end starts the new firmware; after a failed copy the board stays at
    # its REPL (no watchdog), for the next try.
    return stopped_before_watchdog(port) + [Command(mpremote(port, *commands, RESET))]


# -- provision -------------------------------------------------------------------------------

def literal_assignments(source, filename="<config>"):
    """{name: value} of the top-level `NAME = value` lines of a config file (read, not run);
    None for a value that is not a literal."""
    values = {}
    for node in ast.parse(source, filename).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                values[node.targets[0].id] = None
    return values


def template_keys(path=TEMPLATE):
    """{CONFIG_* name: default value} from config_template.py."""
    with open(path, encoding="utf-8") as f:
        values = literal_assignments(f.read(), path)
    return {name: value for name, value in values.items() if name.startswith("CONFIG_")}


def config_notes(source, known):
    """Warnings about a config that validates but is likely not what was meant: a CONFIG_*
    name config_template.py does not have (misspelt: the board would use the default), and
    the template's example values left in place. Names only, never a value."""
    assigned = literal_assignments(source)
    notes = ["%s is not a key of config_template.py (misspelt?): the board ignores it" % name
             for name in assigned if name.startswith("CONFIG_") and name not in known]
    examples = [name for name in TEMPLATE_EXAMPLES if known.get(name) is not None and assigned.get(name) == known[name]]
    if examples:
        notes.append("still the example values of config_template.py, fill in your own: " + ", ".join(examples))
    secret = assigned.get("CONFIG_AWS_SECRET_KEY")
    if isinstance(secret, str) and len(secret) != SECRET_KEY_LENGTH:
        # A key cut short or lengthened when pasted is the commonest cause of signature errors.
        notes.append("CONFIG_AWS_SECRET_KEY is %d characters long; the secret access keys AWS issues have %d: "
                     "check it was pasted whole" % (len(secret), SECRET_KEY_LENGTH))
    return notes


def _env_value(raw):
    """(text, quoted) of a .env value: 'single' literal, "double" with \\ escapes, or bare
    with an optional ` # comment`."""
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        inner = raw[1:-1]
        if raw[0] == '"':
            inner = inner.replace("\\\\", "\0").replace('\\"', '"').replace("\\n", "\n").replace("\0", "\\")
        return inner, True
    return raw.split(" #", 1)[0].rstrip(), False


def _typed(text, quoted, default):
    # The template says what a key holds: text for a text key; otherwise a Python literal
    # (number, True/False, None, list) when it reads as one, else text for the loader to refuse.
    # A bare None is None for every key (CONFIG_AWS_LAMBDA_FUNCTION=None: direct SNS;
    # CONFIG_WIFI_SSID=None: no WiFi); the loader says when a key needs a value. 'None' in
    # quotes is the text.
    if not quoted and text == "None":
        return None
    if quoted or isinstance(default, str):
        return text
    if text == "":
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, (bool, int, float, list, tuple, type(None))) else text


def read_env(path, known):
    """{key: value} of the CONFIG_* lines of a .env file, typed after config_template.py."""
    values = {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("export "):
            text = text[len("export "):].lstrip()
        key, equals, raw = text.partition("=")
        key = key.strip()
        if not equals or not key.isidentifier():
            raise BoardError("%s line %d: expected KEY=value" % (shown(path), number))
        if not key.startswith("CONFIG_"):
            continue  # the file may hold other tools' settings
        if key not in known:
            raise BoardError("%s line %d: %s is not a config key (see firmware/config_template.py)"
                             % (shown(path), number, key))
        text, quoted = _env_value(raw.strip())
        values[key] = _typed(text, quoted, known[key])
    if not values:
        raise BoardError("%s has no CONFIG_* lines (write them as in firmware/config_template.py, "
                         "e.g. CONFIG_AWS_REGION=eu-west-1)" % shown(path))
    return values


def config_source(values, origin):
    lines = ["# The board's config.py, written by `make provision` from %s. Holds secrets: never commit it."
             % os.path.basename(origin)]
    for key, value in values.items():
        lines.append("%s = %s" % (key, python_string(value) if isinstance(value, str) else repr(value)))
    return "\n".join(lines) + "\n"


def _board_path_on_host(path, build=BUILD):
    # A board path such as /certs/my-ca.pem exists after `make deploy` when its source is in firmware/.
    for base in (os.path.join(REPO, "firmware"), build):
        candidate = os.path.join(base, path.lstrip("/"))
        if os.path.exists(candidate):
            return candidate
    return path


def _board_folder_on_host(path, build=BUILD):
    # CONFIG_OUTBOX_PATH as the host can check it: its folder as the board has it after
    # `make deploy` (firmware/ and the build are its file system); a folder in neither is
    # one the board does not have either.
    folder, _, name = path.rpartition("/")
    if not folder:
        return path
    for base in (os.path.join(REPO, "firmware"), build):
        candidate = os.path.join(base, folder.lstrip("/"))
        if os.path.isdir(candidate):
            return os.path.join(candidate, name)
    if not os.path.isdir(folder):
        return path  # refused as it is (the error describes this value)
    return os.path.join(REPO, "firmware", "no such folder on the board", name)


def device_cert_files(module, origin):
    """Certificate auth: [(key, host path)] of CONFIG_TLS_CERT and CONFIG_TLS_KEY, relative
    names (the board's /) found next to config.py on the host; [] with static keys."""
    out = []
    for key in ("CONFIG_TLS_CERT", "CONFIG_TLS_KEY"):
        name = getattr(module, key, None)
        if isinstance(name, str) and name and not name.startswith("/"):
            out.append((key, os.path.join(os.path.dirname(os.path.abspath(origin)), name)))
    return out


def config_board_files(values, origin):
    """[(key, host path)] of the files config.py's values {key: value} name on the board that
    go there from the host: the certificate and key of certificate auth (device_cert_files),
    and any of CONFIG_TLS_CA, CONFIG_TLS_CERT, CONFIG_TLS_KEY naming a board path such as
    /ca.der whose file is next to config.py (the board's / is config.py's folder)."""
    out = device_cert_files(types.SimpleNamespace(**values), origin)
    for key in ("CONFIG_TLS_CA", "CONFIG_TLS_CERT", "CONFIG_TLS_KEY"):
        name = values.get(key)
        if isinstance(name, str) and name.startswith("/") and key not in dict(out):
            path = os.path.join(os.path.dirname(os.path.abspath(origin)), name.lstrip("/"))
            if os.path.isfile(path):
                out.append((key, path))
    return out


def validate_config(source, origin, build=BUILD):
    """The Settings mpaws.settings loads from this config.py text; BoardError naming the key
    (never a value of a secret) when the board would refuse it. build: the files deployed."""
    module = types.ModuleType("config")
    try:
        exec(compile(source, origin, "exec"), module.__dict__)
    except SyntaxError as e:
        raise BoardError("%s line %s: not valid Python (%s)" % (shown(origin), e.lineno, e.msg))
    except Exception as e:
        # The message could quote a secret (a key pasted without quotes is a NameError).
        raise BoardError("%s line %s: %s when reading it: put every value in quotes as in config_template.py"
                         % (shown(origin), _error_line(e, origin), type(e).__name__))
    files = config_board_files(module.__dict__, origin)
    ca = getattr(module, "CONFIG_TLS_CA", None)
    if isinstance(ca, str) and ca:
        module.CONFIG_TLS_CA = _board_path_on_host(ca, build)
    outbox = getattr(module, "CONFIG_OUTBOX_PATH", None)
    if isinstance(outbox, str) and outbox == outbox.strip():
        module.CONFIG_OUTBOX_PATH = _board_folder_on_host(outbox, build)
    for key, path in files:  # the files next to config.py that go to the board
        setattr(module, key, path)
    if FIRMWARE_LIB not in sys.path:
        sys.path.insert(0, FIRMWARE_LIB)
    from mpaws import errors, settings

    try:
        return settings.Settings(module)
    except errors.ConfigError as e:
        raise BoardError("%s does not validate: %s" % (shown(origin), e))


def _error_line(error, origin):
    tb = error.__traceback__
    line = "?"
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == origin:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _write_private(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def provision_plan(port, config=None, env_file=None, out=GENERATED_CONFIG):
    """(commands, file to delete after the run or None, Settings): copies config.py to the
    board. A config.py made from .env is written to `out` (mode 600: it holds the secret)."""
    if config and env_file:
        raise BoardError("give CONFIG= or ENV_FILE=, not both")
    if not config and not env_file:
        if os.path.isfile(CONFIG):
            config = CONFIG
        elif os.path.isfile(ENV_FILE):
            env_file = ENV_FILE
        else:
            raise BoardError("no firmware/config.py and no .env: copy firmware/config_template.py to "
                             "firmware/config.py and fill it in (or write its CONFIG_* keys to .env)")
    generated = None
    if env_file:
        if not os.path.isfile(env_file):
            raise BoardError("ENV_FILE %s: no such file" % env_file)
        source = config_source(read_env(env_file, template_keys()), env_file)
        loaded = validate_config(source, env_file)
        _write_private(out, source)
        note("wrote %s from %s (mode 600, deleted again after the copy and after a dry run: it holds the secret)"
             % (shown(out), shown(env_file)))
        config = generated = out
    else:
        if not os.path.isfile(config):
            raise BoardError("CONFIG %s: no such file" % config)
        with open(config, "rb") as f:
            data = f.read()
        try:
            source = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BoardError("%s is not UTF-8 text" % shown(config))
        loaded = validate_config(source, config)
    for message in config_notes(source, template_keys()):
        note("note: " + message)
    # Certificate auth: the certificate and its private key go to the board (and nowhere
    # else), before config.py that names them; so does a CA certificate found beside it.
    values = literal_assignments(source)
    files = [Command(mpremote(port, ("fs", "cp", shown(path), ":" + values[key])))
             for key, path in config_board_files(values, config)]
    copy = Command(mpremote(port, ("fs", "cp", shown(config), ":config.py"), RESET))
    return stopped_before_watchdog(port) + files + [copy], generated, loaded


# -- packaging --------------------------------------------------------------------------------

PACKAGE_VERSION = "0.1.0"  # also in manifest.py


def package_json(lib=FIRMWARE_LIB):
    """package.json for `mip install github:OWNER/REPO`: every .py of the library, with URLs
    relative to the repository (so a fork or a local checkout installs itself)."""
    names = sorted(os.path.relpath(os.path.join(folder, name), lib).replace(os.sep, "/")
                   for folder, _, files in os.walk(os.path.join(lib, "mpaws")) for name in files
                   if name.endswith(".py"))
    repo_lib = os.path.relpath(lib, REPO).replace(os.sep, "/")
    urls = ",\n".join('        ["%s", "%s/%s"]' % (name, repo_lib, name) for name in names)
    return '{\n    "urls": [\n%s\n    ],\n    "deps": [],\n    "version": "%s"\n}\n' % (urls, PACKAGE_VERSION)


# -- interrupt: the REPL with no watchdog ----------------------------------------------------

def _open_serial(serial, port, deadline):
    # A board on native USB leaves the bus while it resets: wait for its port to come back.
    while True:
        try:
            return serial.Serial(port, 115200, timeout=0.05)
        except (serial.SerialException, OSError) as e:
            if time.monotonic() >= deadline:
                raise BoardError("cannot open PORT %s: %s" % (port, e))
            time.sleep(0.1)


def _close_serial(link):
    try:
        link.rts = False  # as mpremote does: no reset on the way out (Windows drivers)
        link.dtr = False
    except OSError:
        pass  # a pty, or a port without modem lines
    link.close()


def interrupt(port, timeout=INTERRUPT_TIMEOUT_S, start_wait=START_LINE_WAIT_S):
    """Stops main.py, just started after a reset, before its watchdog: waits for its start-up
    line ("mpaws: starting in 3 s") and sends Ctrl-C until the REPL's prompt shows. Without
    that line within start_wait s (no main.py yet, an older one, CONFIG_START_DELAY_S = 0,
    or a board that did not reset), sends Ctrl-C anyway, with a note. BoardError when no
    prompt came within timeout s."""
    import serial  # pyserial, installed with mpremote (requirements-board.txt)

    deadline = time.monotonic() + timeout
    link = _open_serial(serial, port, deadline)
    start = time.monotonic()
    seen = line = b""
    started = stopped = prompted = asked = False
    next_ctrl_c = 0.0
    try:
        while time.monotonic() < deadline:
            data = link.read(512)
            seen = (seen + data)[-4096:]
            *lines, line = (line + data).split(b"\n")
            for text in lines:  # the application's own lines, for the user to read
                if text.startswith(b"mpaws:"):
                    note("board: " + text.rstrip().decode("utf-8", "replace"))
                    stopped = stopped or text.startswith(STOPPED_LINE)
            started = started or START_LINE in seen  # acted on before its line ends
            if PROMPT in seen:
                prompted = True
                break
            now = time.monotonic()
            if (started or now - start >= start_wait) and now >= next_ctrl_c:
                link.write(b"\r\x03")
                next_ctrl_c = now + CTRL_C_EVERY_S
            if not asked and now - start >= start_wait + 4:
                note("waiting for the board's REPL: if nothing happens, press its RST/EN button")
                asked = True
    finally:
        _close_serial(link)
    if not prompted:
        raise BoardError("no REPL prompt from the board on %s within %d s: press its RST/EN button (a board in "
                         "deep sleep does not answer) and run the command again" % (port, timeout))
    if started:
        note("main.py stopped in its start-up grace: the REPL, no watchdog running")
    elif stopped:
        note("main.py stopped by itself before its watchdog (see its lines above): the REPL")
    else:
        note("note: no start-up line from main.py (none deployed yet, CONFIG_START_DELAY_S = 0, or an older one): "
             "if the board restarts during what follows, its watchdog was running: run the command again")
    return 0


# -- running -----------------------------------------------------------------------------

def _check_port(port, dry_run):
    if not port:
        raise BoardError("PORT is missing: give the board's serial port, e.g. PORT=/dev/ttyUSB0 "
                         "(Linux), PORT=/dev/cu.usbserial-0001 (macOS), PORT=COM4 (Windows); "
                         "`.venv/bin/mpremote devs` lists them")
    # A device path; COM4 is not one, nor a pyserial URL (socket://host:port, rfc2217://...).
    if not dry_run and "/" in port and "://" not in port and not os.path.exists(port):
        raise BoardError("PORT %s does not exist: is the board plugged in (with a data cable)? "
                         "`.venv/bin/mpremote devs` lists the serial ports" % port)


def run(commands, dry_run):
    """Prints each command; runs it unless dry_run. After a failure, only the commands marked
    `always` run. Returns the exit status (of the first failure)."""
    failed = 0
    for argv in commands:
        if failed and not getattr(argv, "always", False):
            continue
        print(shlex.join(argv), flush=True)
        if dry_run:
            continue
        if not os.path.exists(argv[0]):
            raise BoardError("%s is not installed: the make targets install requirements-board.txt on first use"
                             % argv[0])
        status = subprocess.call(argv)
        if not status:
            continue
        if getattr(argv, "may_fail", None):
            note("note: " + argv.may_fail)
            continue
        print("error: %s failed (exit status %d); see the README's troubleshooting for the board"
              % (os.path.basename(argv[0]), status), file=sys.stderr)
        failed = failed or status
    return failed


def note(message):
    print(message, file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="board.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    sub = parser.add_subparsers(dest="command", required=True)
    helps = {"flash": "erase the board and write MicroPython (esptool)",
             "deploy": "copy build/firmware (make build) to the board",
             "provision": "validate config.py (or .env) and copy it to the board",
             "repl": "the board's REPL and log",
             "notify": "app.notify(SUBJECT, BODY) on the board",
             "status": "app.status() of the running board: WiFi, time, outbox, last error",
             "interrupt": "after a reset: Ctrl-C in main.py's start-up grace, before the watchdog"}
    for name in ("flash", "deploy", "provision", "repl", "notify", "status", "interrupt"):
        p = sub.add_parser(name, help=helps[name])
        p.add_argument("--port", default="")
        p.add_argument("--dry-run", action="store_true", default=argparse.SUPPRESS)
        if name == "interrupt":
            p.add_argument("--timeout", type=float, default=INTERRUPT_TIMEOUT_S,
                           help="seconds for the board to reach its REPL")
            p.add_argument("--start-wait", type=float, default=START_LINE_WAIT_S,
                           help="seconds to wait for main.py's start-up line before Ctrl-C without it")
        elif name == "flash":
            p.add_argument("--firmware", default="")
            p.add_argument("--chip", default="")
            p.add_argument("--baud", type=int, default=DEFAULT_BAUD)
        elif name == "deploy":
            p.add_argument("--build", default=BUILD)
        elif name == "provision":
            p.add_argument("--config", default="")
            p.add_argument("--env-file", default="")
            p.add_argument("--out", default=GENERATED_CONFIG, help="where a config.py made from .env is written")
        elif name == "notify":
            p.add_argument("--subject", default="")
            p.add_argument("--body", default="")
    sub.add_parser("package-json", help="rewrite package.json from the files of firmware/lib/mpaws")
    args = parser.parse_args(argv)
    dry_run = args.dry_run
    if args.command == "package-json":
        with open(os.path.join(REPO, "package.json"), "w") as f:
            f.write(package_json())
        return 0
    generated = None
    try:
        _check_port(args.port, dry_run)
        if args.command == "flash":
            commands = flash_commands(args.port, args.firmware, args.chip, args.baud)
            note("note: erases the whole flash (files, config.py, outbox): run make deploy and make provision after")
        elif args.command == "deploy":
            commands = deploy_commands(args.port, args.build)
        elif args.command == "provision":
            commands, generated, loaded = provision_plan(args.port, args.config, args.env_file, args.out)
            note("config OK: %r" % loaded)
        elif args.command == "repl":
            commands = [mpremote(args.port, ("repl",))]
        elif args.command == "notify":
            code = "import app; app.notify(%s, %s)" % (python_string(_text_arg("SUBJECT", args.subject)),
                                                        python_string(_text_arg("BODY", args.body)))
            # The reset at the end runs even when the notify failed: the application then
            # sends what the outbox kept.
            commands = stopped_before_watchdog(args.port) + [Command(mpremote(args.port, ("exec", code))),
                                                             Command(mpremote(args.port, RESET), always=True)]
        elif args.command == "interrupt":
            return 0 if dry_run else interrupt(args.port, args.timeout, args.start_wait)
        else:
            commands = [mpremote(args.port, ("resume",), ("exec", "import app; app.status()"), RESET)]
        status = run(commands, dry_run)
    except BoardError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    finally:
        if generated and os.path.exists(generated):
            os.remove(generated)  # it holds the secret: the board has its copy now, or a dry run needs none
    return status


if __name__ == "__main__":
    sys.exit(main())
