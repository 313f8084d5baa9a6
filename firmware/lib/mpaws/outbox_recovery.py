# Opening the outbox file (mpaws.outbox): what it holds, and its repair after a power cut
# or a file system that lost its last writes -- the file or its temporary copy taken,
# or the complete message lines of both kept under a new era -- or after damage to its
# header (an era or number that is not one: rebuilt, the messages kept). Used once per
# session, by outbox.Outbox(), then forgotten (mpaws.transient). What it needs of the
# file's format comes with the Outbox (box.MAGIC, box.parse_line, ...): it imports nothing
# of mpaws.outbox, which imports it.
import os


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
            line = f.readline()
            if not line:
                break  # no end line: cut short
            if line.startswith(b"end "):
                self.complete = not broken and line == b"end %d\n" % self.count and not f.readline()
                break
            message = box.parse_line(line)
            if message is None:
                broken = True
                continue
            self.count += 1
            self.size += len(line)
            if tail is not None:
                head, _, number = message[0].rpartition("-")
                if (head + "-").endswith(tail) and number.isdigit() and int(number) >= self.top:
                    self.top = int(number) + 1


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
            line = f.readline()
            if not line:
                return size
            message = box.parse_line(line)
            if message is not None and message[0] not in seen:
                seen.append(message[0])
                out.write(line)
                size += len(line)
