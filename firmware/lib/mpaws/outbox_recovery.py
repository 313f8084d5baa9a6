# Opening the outbox file (mpaws.outbox): what it holds, and its repair after a power cut
# or a file system that lost its last writes -- the file or its temporary copy taken,
# or the complete message lines of both kept under a new era -- or after damage to its
# header (an era or number that is not one: rebuilt, the messages kept). Used once per
# session, by outbox.Outbox(), then forgotten (mpaws.transient). What it needs of the
# file's format comes with the Outbox (box.MAGIC, box.parse_line, ...): it imports nothing
# of mpaws.outbox, which imports it.
import os

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

PIECE = 128  # bytes of a long line read at a time (mpaws.outbox's PIECE)
_SMALL_LINE = const(1024)  # a line up to this long is read without asking the heap (mpaws.outbox's SHORT_LINE)


def _random_era():
    try:
        data = os.urandom(4)
    except (AttributeError, NotImplementedError):  # a port without urandom
        import random

        return "%08x" % random.getrandbits(32)
    return "%02x%02x%02x%02x" % (data[0], data[1], data[2], data[3])


class _Scan:
    """What one outbox file holds: era and next number (None: no valid header), the valid
    messages' count and bytes, the number after the highest of this era's ids, and whether
    the file is whole (its end line matches). Keeps no list of the messages: a file of
    hundreds of them opens in the heap of one."""

    def __init__(self, box, path):
        self.exists = False
        self.era = None
        self.next = 1
        self.count = 0
        self.size = 0
        self.top = 0
        self.complete = False
        try:
            f = open(path, "rb")
        except OSError:
            return
        self.exists = True
        with f:
            self._read(box, f)

    def _read(self, box, f):
        header = f.readline().split()
        if len(header) == 4 and header[0] == box.MAGIC.encode() and header[1] == box.VERSION.encode():
            try:
                era, number = header[2].decode(), int(header[3])
            except (ValueError, UnicodeError):
                era, number = None, 0
            if era is not None and box.is_valid_era(era) and number > 0:
                self.era, self.next = era, number
        broken = self.era is None
        tail = "." + self.era + "-" if self.era else None
        while True:
            line, length, ended = _read_line(f)  # in pieces: a line too large for this heap is not read
            if not line:
                break  # no end line: cut short
            if line.startswith(b"end "):
                self.complete = not broken and line == b"end %d\n" % self.count and not f.readline()
                break
            message_id = _message_id(box, line, length, ended)
            if message_id is None:
                broken = True
                continue
            self.count += 1
            self.size += length
            if tail is not None:
                head, _, number = message_id.rpartition("-")
                if (head + "-").endswith(tail) and number.isdigit() and int(number) >= self.top:
                    self.top = int(number) + 1


def _read_room():
    # A line is read only when half the free heap can hold it: its bytes, then its decoded
    # fields. None on CPython.
    import gc

    try:
        gc.collect()
        return gc.mem_free() // 2
    except AttributeError:
        return None


def _read_line(f, piece=None):
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
    room = None if length <= _SMALL_LINE else _read_room()  # no collection per line of a large outbox
    if room is None or length <= room:
        f.seek(start)
        try:
            return f.read(length), length, ended
        except MemoryError:
            f.seek(start + length)
    return head, length, ended


def long_message(box, f, head):
    """For box.messages(): (id, subject, body) of the line that starts with head (a line
    longer than box's SHORT_LINE), or None: not a message, or too large to read in this heap
    (then set aside: its id in box.aside, logged once; the line stays in the file)."""
    line, length, _ = _read_line(f, head)
    if len(line) == length:
        try:
            return box.parse_line(line)
        except MemoryError:  # decoding it took more than there is: set aside too
            line = line[:PIECE]
    message_id = box.line_id(line)
    line = None
    if message_id is not None and message_id not in box.aside:
        box.aside.append(message_id)
        box._say("%s (%d bytes) is too large to read in this heap: set aside, kept in the outbox for a restart with "
                 "more free heap" % (message_id, length))
    return None


def _message_id(box, line, length, ended):
    # The id of a valid message line, or None. A line too large to read in this heap (only
    # its first piece is here) counts as a message when it is complete and starts with a
    # valid id: it is set aside when it is read (box.messages()), never dropped.
    if len(line) == length:
        try:
            message = box.parse_line(line)
            return None if message is None else message[0]
        except MemoryError:  # decoding it took more than there is: as too large
            pass
    message_id = box.line_id(line[:PIECE])
    return message_id if ended and message_id and box.is_valid_id(message_id) else None


def open_outbox(box):
    """Sets box's era, next number, count and size from its file, repaired if need be."""
    main = _Scan(box, box.path)
    if not main.exists:
        # A cut between removing the old file and renaming the new one (a file system
        # whose rename does not replace): the new one is complete; take it.
        for candidate in (box.salvaged, box.tmp):
            scan = _Scan(box, candidate)
            if scan.complete:
                os.rename(candidate, box.path)
                box._say("recovered the outbox from its %s copy" % ("rebuilt" if candidate == box.salvaged else
                                                                     "temporary"))
                main = scan
                break
    temp = _Scan(box, box.tmp)
    if main.complete:
        if temp.exists:
            box.remove_file(box.tmp)
            box._say("discarded an unfinished write (power cut?); the outbox is as last saved")
        box.remove_file(box.salvaged)
        _adopt(box, main)
    elif main.exists or temp.exists:
        _salvage(box, main, temp)
    else:
        box.era = _random_era()


def _adopt(box, scan):
    box.era = scan.era
    box.next = max(scan.next, scan.top)  # a header may be older than a line
    box.count = scan.count
    box.size = scan.size


def _salvage(box, main, temp):
    """Rebuilds the outbox from the complete message lines of a file cut short or damaged
    (and of an unfinished temporary file): a message is kept, even if it may be sent twice."""
    # The counter in a damaged file cannot be trusted: a new era keeps new ids unique.
    box.era = _random_era()
    box.next = 1
    seen = []
    box.size = 0
    with open(box.salvaged, "wb") as out:
        box._write_header(out)
        for path in (box.path, box.tmp):
            box.size += _copy_valid(box, path, out, seen)
        out.write(b"end %d\n" % len(seen))
    box.count = len(seen)
    box._commit(box.salvaged)
    box.remove_file(box.tmp)  # after the commit: until then, its lines are only there
    box._say("the outbox file was damaged or cut short (power cut?): rebuilt, kept %d complete message(s)"
             % box.count)


def _copy_valid(box, path, out, seen):
    size = 0
    try:
        f = open(path, "rb")
    except OSError:
        return size
    with f:
        f.readline()
        while True:
            start = f.tell()
            line, length, ended = _read_line(f)
            if not line:
                return size
            message_id = _message_id(box, line, length, ended)
            if message_id is not None and message_id not in seen:
                seen.append(message_id)
                if len(line) == length:
                    out.write(line)
                else:  # too large to hold: copied in pieces
                    f.seek(start)
                    while True:
                        piece = f.readline(PIECE)
                        out.write(piece)
                        if not piece or piece.endswith(b"\n"):
                            break
                size += length
