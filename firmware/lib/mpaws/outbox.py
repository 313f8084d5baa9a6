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
# damage), so an id is never reused, even when the file was lost. The receiving side
# drops an id it has seen.
import json
import os
import sys

from mpaws.awslambda import json_string

MAGIC = "mpaws-outbox"
VERSION = "1"
MAX_ID = 64
ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-"
# MicroPython writes a str's UTF-8 to a binary file as it is: no encoded copy per piece.
_WRITES_STR = sys.implementation.name == "micropython"


def is_valid_id(text):
    # strip() of an id made of ID_CHARS only is "", which allocates nothing.
    return isinstance(text, str) and 0 < len(text) <= MAX_ID and not text.strip(ID_CHARS)


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _line_id(line):
    # A line starts with ["<id>": ids need no escaping, so no JSON parse is needed here.
    end = line.find(b'"', 2)
    return line[2:end].decode() if line.startswith(b'["') and end > 2 else None


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


def _open(box):
    # Reading the file (and repairing it after a power cut) runs once per session, from
    # mpaws.outbox_recovery, which is then forgotten: its code is not held while sending.
    from mpaws import outbox_recovery, transient

    try:
        outbox_recovery.open_outbox(box)
    finally:
        transient.forget("outbox_recovery")


class Outbox:
    """The outbox file at `path`, holding at most `limit` messages (the oldest is dropped,
    and logged, to make room). prefix: the device's part of every id."""

    def __init__(self, path, limit, prefix, log=None):
        if limit < 1:
            raise ValueError("outbox limit must be at least 1")
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

    def _rewrite(self, drop=0, skip_id=None, new=None):
        """Writes the new file: the current messages less the `drop` oldest and the one
        with id skip_id, plus `new` (pieces of one line). Returns what it left out, as
        (id, subject) pairs, for the log."""
        left_out = []
        count = 0
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
                    while True:
                        line = f.readline()  # one message at a time: the file is never read whole
                        if not line or line.startswith(b"end "):
                            break
                        if drop > 0:
                            drop -= 1
                            message = _parse_message(line)
                            left_out.append((_line_id(line), message[1] if message else "?"))
                            continue
                        # The id's line starts with ["<id>": compared as bytes, not decoded.
                        if skip is not None and line.startswith(skip):
                            skip = None
                            continue
                        out.write(line)
                        count += 1
            if new is not None:
                for piece in new:
                    out.write(piece if _WRITES_STR else piece.encode())
                count += 1
            out.write(b"end %d\n" % count)
        self._commit(self.tmp)
        self.count = count
        return left_out

    def add(self, subject, body):
        """Stores a message; returns its id. When the outbox is full, the oldest messages
        are dropped to make room, each with a log line."""
        message_id = "%s.%s-%d" % (self.prefix, self.era, self.next)
        if not is_valid_id(message_id):
            raise ValueError("message id %r: at most %d of A-Z a-z 0-9 . _ : -" % (message_id, MAX_ID))
        line = ['["', message_id, '", ']
        line.extend(json_string(subject))
        line.append(", ")
        line.extend(json_string(body))
        line.append("]\n")
        self.next += 1
        drop = self.count + 1 - self.limit if self.count >= self.limit else 0
        for dropped_id, dropped_subject in self._rewrite(drop=drop, new=line):
            self.dropped += 1
            self._say("full (%d messages, CONFIG_OUTBOX_LIMIT): dropped the oldest, %s %r"
                      % (self.limit, dropped_id, dropped_subject))
        return message_id

    def remove(self, message_id):
        """Removes a message (AWS accepted it). Returns whether it was there."""
        before = self.count
        self._rewrite(skip_id=message_id)
        return self.count < before

    def oldest(self):
        """(id, subject, body) of the oldest message, or None when empty."""
        for message in self.messages(1):
            return message
        return None

    def messages(self, limit=None):
        """The stored messages, oldest first, as (id, subject, body), read one line at a time."""
        try:
            f = open(self.path, "rb")
        except OSError:
            return
        with f:
            f.readline()
            while limit is None or limit > 0:
                line = f.readline()
                if not line or line.startswith(b"end "):
                    return
                message = _parse_message(line)
                if message is not None:
                    if limit is not None:
                        limit -= 1
                    yield message
