# Notifications not yet accepted by AWS, kept in a small file on flash (at-least-once).
#
# A notification is written here before it is sent and removed only once AWS accepted it,
# so it survives WiFi outages, throttling and power cuts. Every change rewrites the file:
# into PATH.tmp first, then renamed over PATH (atomic on LittleFS and POSIX), so a power
# cut leaves the old file or the new one, never half of one. The file, oldest first:
#
#     mpaws-outbox 1 <era> <next number>
#     ["<id>", "<subject>", "<body>"]          (one JSON line per message)
#     end <count>
#
# A file without its end line was cut short (a file system that lost its last writes): its
# complete lines are kept. Ids are <prefix>.<era>-<number>: the number counts up and is
# kept in the file; the era is random, drawn when a file is started (or rebuilt after
# damage: a header whose era or number is not one is rebuilt, its messages kept), so an
# id is never reused, even when the file was lost. The receiving side drops an id it has
# seen.
#
# Bounds: at most `limit` messages and `max_bytes` bytes of message lines (the oldest are
# dropped, and logged, to make room), and one message at most what the free heap can send
# (see SEND_RESERVE: refused before it is stored otherwise). The file is read one line at a
# time, never whole, and a long line is measured first: one too large for the heap of this
# session (stored while the heap was larger) is set aside, not read, and stays in the file
# (see messages()).
import gc
import json
import os
import sys

from mpaws.json_pieces import json_string

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

MAGIC = "mpaws-outbox"
VERSION = "1"
MAX_ID = 64
_ERA_CHARS = const("0123456789abcdef")
_ERA_LENGTH = const(8)
# A message is stored only when the heap that stores it can send it, from a new process too:
# sending takes SEND_RESERVE bytes more than is held when a message is queued before the
# session's client exists (the request's modules, the TLS connection; OPEN_RESERVE once it
# exists), plus the line read back from the file (its bytes as stored) and its subject and
# body decoded from it (_SEND_PER_TEXT_BYTE per byte of their UTF-8: the strings and the
# buffer they grow in while the line is parsed); the request's body is made from them in
# pieces, never copied (json_pieces.JsonPieces). Measured on the unix port after gc.collect()
# (free heap when queued vs the largest body a new process then flushes, Lambda mode): 30.4
# to 32.1 KB for bodies of plain ASCII and of line breaks at heaps of 104 to 160 KB; 42 to
# 44 KB beside the fault suite's driver at 120 KB (test_faults: its objects are in the
# flushing process too, and a long line is read only when half the free heap can hold it);
# 22.9 to 23.3 KB less free once the client is open. 2 KB more for the heap's layout. The 64-bit
# port's objects are larger than the ESP32's, and mbedTLS takes its memory from the gc heap
# there, from the ESP-IDF heap on the board: on the board these are on the safe side.
SEND_RESERVE = 46000
OPEN_RESERVE = 19500
_SEND_PER_TEXT_BYTE = const(2)
PIECE = 128  # bytes of a line read at a time when the file is rewritten (an id is at most 64)
SHORT_LINE = 1024  # a message line up to this long is read at once; a longer one is measured first
_ID_CHARS = const("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")
# MicroPython writes a str's UTF-8 to a binary file as it is: no encoded copy per piece.
_WRITES_STR = sys.implementation.name == "micropython"


def _byte_length(piece):
    # A str's UTF-8 length: its memoryview on MicroPython (no encoded copy).
    if isinstance(piece, str):
        return len(memoryview(piece)) if _WRITES_STR else len(piece.encode())
    return len(piece)


def is_valid_id(text):
    # strip() of an id made of _ID_CHARS only is "", which allocates nothing.
    return isinstance(text, str) and 0 < len(text) <= MAX_ID and not text.strip(_ID_CHARS)


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _message_line(message_id, subject, body):
    # A message line as pieces, made anew for each pass (measured, then written): the
    # escaped text is never held whole.
    yield '["'
    yield message_id
    yield '", '
    yield from json_string(subject)
    yield ", "
    yield from json_string(body)
    yield "]\n"


def _line_id(line):
    # A line starts with ["<id>": ids need no escaping, so no JSON parse is needed here.
    end = line.find(b'"', 2)
    if line.startswith(b'["') and end > 2:
        try:
            return line[2:end].decode()
        except UnicodeError:  # damage (a line too large to read is judged by this alone)
            pass
    return None


def _subject(line):
    # For the log line of a dropped message; "?" when it can't be read (or is too large).
    try:
        message = _parse_message(line)
    except MemoryError:
        message = None
    return message[1] if message else "?"


def _parse_message(line):
    """(id, subject, body) of a complete message line, or None."""
    if not line.endswith(b"\n"):
        return None
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if (isinstance(message, list) and len(message) == 3 and is_valid_id(message[0])
            and isinstance(message[1], str) and isinstance(message[2], str)):
        return message[0], message[1], message[2]
    return None


def is_valid_era(text):
    return len(text) == _ERA_LENGTH and not text.strip(_ERA_CHARS)


def _free_heap():
    try:
        mem_free = gc.mem_free
    except AttributeError:  # CPython
        return None
    gc.collect()  # what is free, not what the last collection happened to leave
    return mem_free()


def _open(box):
    # Reading the file (and repairing it after a power cut) runs once per session, from
    # mpaws.outbox_recovery, which is then forgotten: its code is not held while sending.
    # It imports nothing of this module: what it needs of the file's format comes with box.
    from mpaws import outbox_recovery, transient

    try:
        outbox_recovery.open_outbox(box)
    finally:
        transient.forget("outbox_recovery")


class Outbox:
    """The outbox file at `path`, holding at most `limit` messages and `max_bytes` bytes of
    messages (the oldest are dropped, and logged, to make room). prefix: the device's part
    of every id."""

    MAGIC = MAGIC
    VERSION = VERSION
    parse_line = staticmethod(_parse_message)
    line_id = staticmethod(_line_id)
    is_valid_id = staticmethod(is_valid_id)
    remove_file = staticmethod(_remove)
    is_valid_era = staticmethod(is_valid_era)

    def __init__(self, path, limit, prefix, log=None, max_bytes=32768):
        if limit < 1:
            raise ValueError("outbox limit must be at least 1")
        self.max_bytes = max_bytes
        self.size = 0  # bytes of message lines in the file, set by _open()
        self.path = path
        self.tmp = path + ".tmp"  # every change is written here, then renamed over path
        self.salvaged = path + ".tmp2"  # the file rebuilt from a damaged one
        self.limit = limit
        self.prefix = prefix
        self.log = log
        self.era = ""  # set by _open(), with next and count
        self.next = 1
        self.count = 0
        self.dropped = 0  # messages dropped to respect the limit since start
        self.aside = []  # ids of the messages too large to read in this heap (messages() skips them)
        _open(self)

    def __len__(self):
        return self.count

    def _say(self, text):
        if self.log:
            self.log("mpaws: outbox: " + text)

    # -- writing ---------------------------------------------------------------------

    def _write_header(self, out):
        out.write(b"%s %s %s %d\n" % (MAGIC.encode(), VERSION.encode(), self.era.encode(), self.next))

    def _commit(self, new):
        try:
            os.rename(new, self.path)
        except OSError:
            # A file system whose rename does not replace (FAT): a cut between these two
            # steps leaves only the complete new file, which opening it takes (outbox_recovery).
            _remove(self.path)
            os.rename(new, self.path)

    def _rewrite(self, drop=0, skip_id=None, new=None, new_bytes=0):
        """Writes the new file: the current messages less the `drop` oldest (and more of the
        oldest until new_bytes more fit in max_bytes) and the one with id skip_id, plus `new`
        (the pieces of one line, str or bytes-like, new_bytes long). Returns what it left
        out, as (id, subject) pairs, for the log."""
        left_out = []
        count = 0
        size = 0
        # Bytes of the oldest to drop: only to make room for a new message, never on a removal
        # (a file over a lowered max_bytes keeps its messages until the next one is added).
        excess = 0 if new is None else self.size + new_bytes - self.max_bytes
        skip = None if skip_id is None else ('["%s"' % skip_id).encode()
        with open(self.tmp, "wb") as out:
            self._write_header(out)
            try:
                f = open(self.path, "rb")
            except OSError:
                f = None
            if f is not None:
                with f:
                    f.readline()
                    start = True  # the next piece begins a line
                    keep = False
                    dropped = 0  # bytes of the line being dropped so far
                    while True:
                        # A line in pieces of at most PIECE bytes: a large message is never held
                        # whole here (its removal must work in the heap that sent it).
                        piece = f.readline(PIECE)
                        if not piece:
                            break
                        if start:
                            if piece.startswith(b"end "):
                                break
                            keep = False
                            if drop > 0 or excess > 0:
                                drop -= 1
                                dropped = -1  # this line goes; its length is counted below
                                left_out.append((_line_id(piece), _subject(piece) if piece.endswith(b"\n") else "?"))
                            elif skip is not None and piece.startswith(skip):
                                # The id's line starts with ["<id>": compared as bytes, not decoded.
                                skip = None
                            else:
                                keep = True
                                count += 1
                        start = piece.endswith(b"\n")
                        if keep:
                            out.write(piece)
                            size += len(piece)
                        elif dropped:
                            dropped += len(piece) + (dropped < 0)  # -1 marked the line's start
                            if start:
                                excess -= dropped
                                dropped = 0
            if new is not None:
                for piece in new:
                    out.write(piece if _WRITES_STR or not isinstance(piece, str) else piece.encode())
                count += 1
                size += new_bytes
            out.write(b"end %d\n" % count)
        self._commit(self.tmp)
        self.count = count
        self.size = size
        return left_out

    def add(self, subject, body, client_open=False):
        """Stores a message; returns its id. When the outbox is full, the oldest messages
        are dropped to make room, each with a log line. client_open: whether the session's
        client (and so what sending needs besides the message) is in the heap already.
        Raises ValueError, naming the limit, for a message over CONFIG_OUTBOX_BYTES, or one
        the free heap could not send (then with the limit as its second argument); nothing
        is stored."""
        message_id = "%s.%s-%d" % (self.prefix, self.era, self.next)
        if not is_valid_id(message_id):
            raise ValueError("message id %r: at most %d of A-Z a-z 0-9 . _ : -" % (message_id, MAX_ID))
        size = 0
        for piece in _message_line(message_id, subject, body):
            size += _byte_length(piece)
        if size > self.max_bytes:
            raise ValueError("message too large for the outbox: %d bytes stored (subject, body and id as JSON), "
                             "over the limit of %d (CONFIG_OUTBOX_BYTES); send a shorter one" % (size, self.max_bytes))
        free = _free_heap()
        if free is not None:
            cost = size + _SEND_PER_TEXT_BYTE * (_byte_length(subject) + _byte_length(body))
            reserve = OPEN_RESERVE if client_open else SEND_RESERVE
            limit = max(0, free - reserve)
            if cost > limit:
                # The limit as a second argument tells this refusal from the others (a class of
                # its own would hold 320 bytes): app.notify() sends such a message without a copy.
                raise ValueError("message too large to send from this heap: sending it takes %d bytes of heap "
                                 "(its %d bytes as stored, and its subject and body decoded), over the limit of "
                                 "%d (the %d bytes free, less %d for the %s); send a shorter one"
                                 % (cost, size, limit, free, reserve, "request" if client_open else "connection"),
                                 limit)
        self.next += 1
        drop = self.count + 1 - self.limit if self.count >= self.limit else 0
        for dropped_id, dropped_subject in self._rewrite(drop=drop, new=_message_line(message_id, subject, body),
                                                         new_bytes=size):
            self.dropped += 1
            self._say("full (%d messages or %d bytes: CONFIG_OUTBOX_LIMIT, CONFIG_OUTBOX_BYTES): dropped the "
                      "oldest, %s %r" % (self.limit, self.max_bytes, dropped_id, dropped_subject))
        return message_id

    def remove(self, message_id):
        """Removes a message (AWS accepted it). Returns whether it was there."""
        before = self.count
        self._rewrite(skip_id=message_id)
        if message_id in self.aside:
            self.aside.remove(message_id)
        return self.count < before

    def _long(self, f, head):
        # A line longer than SHORT_LINE (rare): mpaws.outbox_recovery measures it in pieces
        # and reads it only if this heap can hold it, else sets it aside.
        from mpaws import outbox_recovery, transient

        try:
            return outbox_recovery.long_message(self, f, head)
        finally:
            transient.forget("outbox_recovery")

    def oldest(self):
        """(id, subject, body) of the oldest message, or None when empty."""
        for message in self.messages(1):
            return message
        return None

    def messages(self, limit=None):
        """The stored messages, oldest first, as (id, subject, body), read one line at a time.
        A message too large to read in this heap (stored while the heap was larger: an
        ESP32's grows and shrinks) is set aside: skipped, kept in the file, its id in
        self.aside (app.status() counts them), and logged once."""
        try:
            f = open(self.path, "rb")
        except OSError:
            return
        with f:
            f.readline()
            while limit is None or limit > 0:
                line = f.readline(SHORT_LINE)
                if not line or line.startswith(b"end "):
                    return
                if len(line) == SHORT_LINE and not line.endswith(b"\n"):
                    message = self._long(f, line)
                else:
                    message = _parse_message(line)
                line = None
                if message is not None:
                    if limit is not None:
                        limit -= 1
                    yield message
