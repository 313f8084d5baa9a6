# Writing and reading the outbox file (its format: mpaws.outbox): a message added, one
# removed (each a rewrite of the file), the messages read back one line at a time, their log
# lines, and the pieces of the format that opening the file (mpaws.outbox_recovery) uses
# too. A message's line is made by the Outbox (Outbox.message_line, with json_pieces, which
# the session holds). The Outbox loads this module for each add, remove or read and forgets
# it after (mpaws.transient): its code is not in the heap while a message is on the wire.
import gc
import json
import os
import sys

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
# Besides mpaws.outbox's SEND_RESERVE: what the message itself costs to send, per byte of
# its subject and body's UTF-8 (the strings, and the buffer they grow in while the line
# is parsed), on top of its line's bytes as stored.
_SEND_PER_TEXT_BYTE = const(2)
PIECE = 128  # bytes of a line read at a time when the file is rewritten or a long line measured (an id is at most 64)
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


def is_valid_era(text):
    return len(text) == _ERA_LENGTH and not text.strip(_ERA_CHARS)


def say(box, text):
    if box.log:
        box.log("mpaws: outbox: " + text)


def remove_file(path):
    try:
        os.remove(path)
    except OSError:
        pass


def line_id(line):
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
        message = parse_line(line)
    except MemoryError:
        message = None
    return message[1] if message else "?"


def parse_line(line):
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


# -- writing -----------------------------------------------------------------------------


def write_header(box, out):
    out.write(b"%s %s %s %d\n" % (MAGIC.encode(), VERSION.encode(), box.era.encode(), box.next))


def commit(box, new):
    """Renames the complete file `new` over box's file."""
    try:
        os.rename(new, box.path)
    except OSError:
        # A file system whose rename does not replace (FAT): a cut between these two
        # steps leaves only the complete new file, which opening it takes (outbox_recovery).
        remove_file(box.path)
        os.rename(new, box.path)


def _rewrite(box, drop=0, skip_id=None, new=None, new_bytes=0):
    """Writes the new file: box's messages less the `drop` oldest (and more of the oldest
    until new_bytes more fit in box.max_bytes) and the one with id skip_id, plus `new` (the
    pieces of one line, str or bytes-like, new_bytes long). Returns what it left out, as
    (id, subject) pairs, for the log."""
    left_out = []
    count = 0
    size = 0
    # Bytes of the oldest to drop: only to make room for a new message, never on a removal
    # (a file over a lowered max_bytes keeps its messages until the next one is added).
    excess = 0 if new is None else box.size + new_bytes - box.max_bytes
    skip = None if skip_id is None else ('["%s"' % skip_id).encode()
    with open(box.tmp, "wb") as out:
        write_header(box, out)
        try:
            f = open(box.path, "rb")
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
                            left_out.append((line_id(piece), _subject(piece) if piece.endswith(b"\n") else "?"))
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
    commit(box, box.tmp)
    box.count = count
    box.size = size
    return left_out


def add(box, subject, body, client_open, free, reserve):
    """Outbox.add(); free: the free heap (None: not known), reserve: what sending needs
    besides the message (mpaws.outbox's SEND_RESERVE or, client_open, OPEN_RESERVE)."""
    message_id = "%s.%s-%d" % (box.prefix, box.era, box.next)
    if not is_valid_id(message_id):
        raise ValueError("message id %r: at most %d of A-Z a-z 0-9 . _ : -" % (message_id, MAX_ID))
    size = 0
    for piece in box.message_line(message_id, subject, body):
        size += _byte_length(piece)
    if size > box.max_bytes:
        raise ValueError("message too large for the outbox: %d bytes stored (subject, body and id as JSON), "
                         "over the limit of %d (CONFIG_OUTBOX_BYTES); send a shorter one" % (size, box.max_bytes))
    if free is not None:
        cost = size + _SEND_PER_TEXT_BYTE * (_byte_length(subject) + _byte_length(body))
        limit = max(0, free - reserve)
        if cost > limit:
            # The limit as a second argument tells this refusal from the others (a class of
            # its own would hold 320 bytes): app.notify() sends such a message without a copy.
            raise ValueError("message too large to send from this heap: sending it takes %d bytes of heap "
                             "(its %d bytes as stored, and its subject and body decoded), over the limit of "
                             "%d (the %d bytes free, less %d for the %s); send a shorter one"
                             % (cost, size, limit, free, reserve, "request" if client_open else "connection"),
                             limit)
    box.next += 1
    drop = box.count + 1 - box.limit if box.count >= box.limit else 0
    for dropped_id, dropped_subject in _rewrite(box, drop=drop, new=box.message_line(message_id, subject, body),
                                                new_bytes=size):
        box.dropped += 1
        say(box, "full (%d messages or %d bytes: CONFIG_OUTBOX_LIMIT, CONFIG_OUTBOX_BYTES): dropped the "
            "oldest, %s %r" % (box.limit, box.max_bytes, dropped_id, dropped_subject))
    return message_id


def remove(box, message_id):
    """Outbox.remove()."""
    before = box.count
    _rewrite(box, skip_id=message_id)
    if message_id in box.aside:
        box.aside.remove(message_id)
    return box.count < before


# -- reading -----------------------------------------------------------------------------


def messages(box, limit=None):
    """Outbox.messages(): a generator, which holds this module's code while it is in use."""
    try:
        f = open(box.path, "rb")
    except OSError:
        return
    with f:
        f.readline()
        while limit is None or limit > 0:
            line = f.readline(SHORT_LINE)
            if not line or line.startswith(b"end "):
                return
            if len(line) == SHORT_LINE and not line.endswith(b"\n"):
                message = _long(box, f, line)
            else:
                message = parse_line(line)
            line = None
            if message is not None:
                if limit is not None:
                    limit -= 1
                yield message


def _read_room():
    # A line is read only when half the free heap can hold it: its bytes, then its decoded
    # fields. None on CPython.
    try:
        gc.collect()
        return gc.mem_free() // 2
    except AttributeError:
        return None


def read_line(f, piece=None):
    """(data, length, ended) of the next line of f (piece: its first piece, already read):
    data is the whole line, or only its first piece when the line is too large for this heap
    (_read_room(); the file is then past it: such a line is never held whole); length its
    length; ended whether it ends with a line break. (b"", 0, False) at the end of the file."""
    if piece is None:
        piece = f.readline(PIECE)
    start = f.tell() - len(piece)
    if not piece or piece.endswith(b"\n"):
        return piece, len(piece), bool(piece)
    head = piece[:PIECE]
    length = len(piece)
    while True:  # measured in pieces first, then read at once if it fits
        piece = f.readline(PIECE)
        length += len(piece)
        if not piece or piece.endswith(b"\n"):
            break
    ended = bool(piece)
    piece = None
    room = None if length <= SHORT_LINE else _read_room()  # no collection per line of a large outbox
    if room is None or length <= room:
        f.seek(start)
        try:
            return f.read(length), length, ended
        except MemoryError:
            f.seek(start + length)
    return head, length, ended


def _long(box, f, head):
    """(id, subject, body) of the line that starts with head (a line longer than
    SHORT_LINE, rare), or None: not a message, or too large to read in this heap (then set
    aside: its id in box.aside, logged once; the line stays in the file)."""
    line, length, _ = read_line(f, head)
    if len(line) == length:
        try:
            return parse_line(line)
        except MemoryError:  # decoding it took more than there is: set aside too
            line = line[:PIECE]
    message_id = line_id(line)
    line = None
    if message_id is not None and message_id not in box.aside:
        box.aside.append(message_id)
        say(box, "%s (%d bytes) is too large to read in this heap: set aside, kept in the outbox for a restart with "
            "more free heap" % (message_id, length))
    return None
