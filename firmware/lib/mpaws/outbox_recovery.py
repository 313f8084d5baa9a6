# Opening the outbox file (mpaws.outbox): what it holds, and its repair after a power cut
# or a file system that lost its last writes -- the file or its temporary copy taken,
# or the complete message lines of both kept under a new era -- or after damage to its
# header (an era or number that is not one: rebuilt, the messages kept). Used once per
# session, by outbox.Outbox(), then forgotten (mpaws.transient), with the pieces of the
# format it takes from mpaws.outbox_file.
import os

from mpaws import outbox_file


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

    def __init__(self, path):
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
            self._read(f)

    def _read(self, f):
        header = f.readline().split()
        if len(header) == 4 and header[0] == outbox_file.MAGIC.encode() and header[1] == outbox_file.VERSION.encode():
            try:
                era, number = header[2].decode(), int(header[3])
            except (ValueError, UnicodeError):
                era, number = None, 0
            if era is not None and outbox_file.is_valid_era(era) and number > 0:
                self.era, self.next = era, number
        broken = self.era is None
        tail = "." + self.era + "-" if self.era else None
        while True:
            line, length, ended = outbox_file.read_line(f)  # in pieces: a line too large for this heap is not read
            if not line:
                break  # no end line: cut short
            if line.startswith(b"end "):
                self.complete = not broken and line == b"end %d\n" % self.count and not f.readline()
                break
            message_id = _message_id(line, length, ended)
            if message_id is None:
                broken = True
                continue
            self.count += 1
            self.size += length
            if tail is not None:
                head, _, number = message_id.rpartition("-")
                if (head + "-").endswith(tail) and number.isdigit() and int(number) >= self.top:
                    self.top = int(number) + 1


def _message_id(line, length, ended):
    # The id of a valid message line, or None. A line too large to read in this heap (only
    # its first piece is here) counts as a message when it is complete and starts with a
    # valid id: it is set aside when it is read (box.messages()), never dropped.
    if len(line) == length:
        try:
            message = outbox_file.parse_line(line)
            return None if message is None else message[0]
        except MemoryError:  # decoding it took more than there is: as too large
            pass
    message_id = outbox_file.line_id(line[:outbox_file.PIECE])
    return message_id if ended and message_id and outbox_file.is_valid_id(message_id) else None


def open_outbox(box):
    """Sets box's era, next number, count and size from its file, repaired if need be."""
    main = _Scan(box.path)
    if not main.exists:
        # A cut between removing the old file and renaming the new one (a file system
        # whose rename does not replace): the new one is complete; take it.
        for candidate in (box.salvaged, box.tmp):
            scan = _Scan(candidate)
            if scan.complete:
                os.rename(candidate, box.path)
                outbox_file.say(box, "recovered the outbox from its %s copy"
                                % ("rebuilt" if candidate == box.salvaged else "temporary"))
                main = scan
                break
    temp = _Scan(box.tmp)
    if main.complete:
        if temp.exists:
            outbox_file.remove_file(box.tmp)
            outbox_file.say(box, "discarded an unfinished write (power cut?); the outbox is as last saved")
        outbox_file.remove_file(box.salvaged)
        box.era = main.era
        box.next = max(main.next, main.top)  # a header may be older than a line
        box.count = main.count
        box.size = main.size
    elif main.exists or temp.exists:
        _salvage(box)
    else:
        box.era = _random_era()


def _salvage(box):
    """Rebuilds the outbox from the complete message lines of a file cut short or damaged
    (and of an unfinished temporary file): a message is kept, even if it may be sent twice."""
    # The counter in a damaged file cannot be trusted: a new era keeps new ids unique.
    box.era = _random_era()
    box.next = 1
    seen = []
    box.size = 0
    with open(box.salvaged, "wb") as out:
        outbox_file.write_header(box, out)
        for path in (box.path, box.tmp):
            box.size += _copy_valid(path, out, seen)
        out.write(b"end %d\n" % len(seen))
    box.count = len(seen)
    outbox_file.commit(box, box.salvaged)
    outbox_file.remove_file(box.tmp)  # after the commit: until then, its lines are only there
    outbox_file.say(box, "the outbox file was damaged or cut short (power cut?): rebuilt, kept %d complete "
                         "message(s)" % box.count)


def _copy_valid(path, out, seen):
    size = 0
    try:
        f = open(path, "rb")
    except OSError:
        return size
    with f:
        f.readline()
        while True:
            start = f.tell()
            line, length, ended = outbox_file.read_line(f)
            if not line:
                return size
            message_id = _message_id(line, length, ended)
            if message_id is not None and message_id not in seen:
                seen.append(message_id)
                if len(line) == length:
                    out.write(line)
                else:  # too large to hold: copied in pieces
                    f.seek(start)
                    while True:
                        piece = f.readline(outbox_file.PIECE)
                        out.write(piece)
                        if not piece or piece.endswith(b"\n"):
                            break
                size += length
