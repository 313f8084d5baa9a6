# Opening the outbox file (mpaws.outbox): what it holds, and its repair after a power cut
# or a file system that lost its last writes -- the file or its temporary copy taken,
# or the complete message lines of both kept under a new era. Used once per session, by
# outbox.Outbox(), then forgotten (mpaws.transient).
import os

from mpaws.outbox import MAGIC, VERSION, _parse_message, _remove


def _random_era():
    try:
        data = os.urandom(4)
    except (AttributeError, NotImplementedError):  # a port without urandom
        import random

        return "%08x" % random.getrandbits(32)
    return "%02x%02x%02x%02x" % (data[0], data[1], data[2], data[3])


class _Scan:
    """What one outbox file holds: era and next number (None: no readable header), the
    valid messages' count and ids, and whether the file is whole (its end line matches)."""

    def __init__(self, path):
        self.exists = False
        self.era = None
        self.next = 1
        self.count = 0
        self.ids = []
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
        if len(header) == 4 and header[0] == MAGIC.encode() and header[1] == VERSION.encode():
            try:
                self.era, self.next = header[2].decode(), int(header[3])
            except ValueError:
                pass
        broken = self.era is None
        while True:
            line = f.readline()
            if not line:
                break  # no end line: cut short
            if line.startswith(b"end "):
                self.complete = not broken and line == b"end %d\n" % self.count and not f.readline()
                break
            message = _parse_message(line)
            if message is None:
                broken = True
                continue
            self.count += 1
            self.ids.append(message[0])


def open_outbox(box):
    """Sets box's era, next number and count from its file, repaired if need be."""
    main = _Scan(box.path)
    if not main.exists:
        # A cut between removing the old file and renaming the new one (a file system
        # whose rename does not replace): the new one is complete; take it.
        for candidate in (box.salvaged, box.tmp):
            scan = _Scan(candidate)
            if scan.complete:
                os.rename(candidate, box.path)
                box._say("recovered the outbox from %s" % candidate)
                main = scan
                break
    temp = _Scan(box.tmp)
    if main.complete:
        if temp.exists:
            _remove(box.tmp)
            box._say("discarded an unfinished write (power cut?); the outbox is as last saved")
        _remove(box.salvaged)
        _adopt(box, main)
    elif main.exists or temp.exists:
        _salvage(box, main, temp)
    else:
        box.era = _random_era()


def _adopt(box, scan):
    box.era = scan.era
    box.next = max(scan.next, _next_after(box, scan.ids))
    box.count = scan.count


def _next_after(box, ids):
    # The number after the highest of this era's ids (a header may be older than a line).
    top = 0
    for message_id in ids:
        head, _, number = message_id.rpartition("-")
        if head.endswith("." + box.era) and number.isdigit():
            top = max(top, int(number))
    return top + 1


def _salvage(box, main, temp):
    """Rebuilds the outbox from the complete message lines of a file cut short (and of
    an unfinished temporary file): a message is kept, even if it may be sent twice."""
    # The counter in a damaged file cannot be trusted: a new era keeps new ids unique.
    box.era = _random_era()
    box.next = 1
    seen = []
    with open(box.salvaged, "wb") as out:
        box._write_header(out)
        for path in (box.path, box.tmp):
            _copy_valid(path, out, seen)
        out.write(b"end %d\n" % len(seen))
    box.count = len(seen)
    box._commit(box.salvaged)
    _remove(box.tmp)  # after the commit: until then, its lines are only there
    box._say("the outbox file was cut short (power cut?): kept %d complete message(s)" % box.count)


def _copy_valid(path, out, seen):
    try:
        f = open(path, "rb")
    except OSError:
        return
    with f:
        f.readline()
        while True:
            line = f.readline()
            if not line:
                return
            message = _parse_message(line)
            if message is not None and message[0] not in seen:
                seen.append(message[0])
                out.write(line)
