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
#
# This module is what the session holds: the Outbox, the file's state (era, next number,
# count, bytes) and its bounds. The code that writes and reads the file (mpaws.outbox_file)
# is loaded for each add, remove or read and forgotten after it, so it is not in the heap
# while a message is on the wire; opening the file (and repairing it) is
# mpaws.outbox_recovery, once per session.
import gc

from mpaws.json_pieces import json_string

# A message is stored only when the heap that stores it can send it, from a new process too:
# sending takes SEND_RESERVE bytes more than is held when a message is queued before the
# sending code is loaded (queue() at the REPL: the client's modules, the TLS connection), and
# OPEN_RESERVE more once that code is in the heap (notify() loads it before it stores; the
# session's client exists), plus the line read back from the file (its bytes as stored) and
# its subject and body decoded from it (mpaws.outbox_file's _SEND_PER_TEXT_BYTE per byte of
# their UTF-8: the strings and the buffer they grow in while the line is parsed); the
# request's body is made from them in pieces, never copied (json_pieces.JsonPieces).
# Measured on the unix port after gc.collect(), Lambda mode: SEND_RESERVE from the free heap
# when queued vs the largest body a new process then flushes, 30.4 to 32.1 KB at heaps of
# 104 to 160 KB, 42 to 44 KB beside the fault suite's driver at 120 KB (its objects and
# names are in the flushing process too), 2 KB more for the heap's layout; OPEN_RESERVE from
# what a notify holds when it stores (51.2 KB; 63.1 KB once the client is open) vs the
# smallest heap in which a new process flushes a one-character message (71.2 KB:
# 69.1 KB of gc heap): 18.2 KB, 2 KB more for the layout. The 64-bit port's objects are
# larger than the ESP32's, and mbedTLS takes its memory from the gc heap there, from the
# ESP-IDF heap on the board: on the board these are on the safe side.
SEND_RESERVE = 46000
OPEN_RESERVE = 20500


def _free_heap():
    try:
        mem_free = gc.mem_free
    except AttributeError:  # CPython
        return None
    gc.collect()  # what is free, not what the last collection happened to leave
    return mem_free()


def _file():
    # mpaws.outbox_file for one use: forgotten at once (mpaws.transient), it is held only by
    # the call that uses it, until that returns (messages(): until its generator is dropped).
    from mpaws import outbox_file, transient

    transient.forget("outbox_file")
    return outbox_file


def _open(box):
    # Reading the file (and repairing it after a power cut) runs once per session, from
    # mpaws.outbox_recovery (with the format's pieces of mpaws.outbox_file), which are then
    # forgotten: their code is not held while sending.
    from mpaws import outbox_recovery, transient

    try:
        outbox_recovery.open_outbox(box)
    finally:
        transient.forget("outbox_recovery", "outbox_file")


class Outbox:
    """The outbox file at `path`, holding at most `limit` messages and `max_bytes` bytes of
    messages (the oldest are dropped, and logged, to make room). prefix: the device's part
    of every id."""

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

    @staticmethod
    def message_line(message_id, subject, body):
        """A message's line (the file's format, above) as pieces, made anew for each pass of
        the file's code (measured, then written): the escaped text is never held whole. Here,
        with json_pieces, which is loaded with the outbox and held for the session (Lambda's
        and API Gateway's requests make their JSON with it too)."""
        yield '["'
        yield message_id
        yield '", '
        yield from json_string(subject)
        yield ", "
        yield from json_string(body)
        yield "]\n"

    def add(self, subject, body, client_open=False):
        """Stores a message; returns its id. When the outbox is full, the oldest messages
        are dropped to make room, each with a log line. client_open: whether what sending needs
        besides the message (the client's code, or the client) is in the heap already.
        Raises ValueError, naming the limit, for a message over CONFIG_OUTBOX_BYTES, or one
        the free heap could not send (then with the limit as its second argument); nothing
        is stored."""
        # The free heap before the file's code loads: what sending finds (that code is let go
        # before a message is sent).
        free = _free_heap()
        return _file().add(self, subject, body, client_open, free, OPEN_RESERVE if client_open else SEND_RESERVE)

    def remove(self, message_id):
        """Removes a message (AWS accepted it). Returns whether it was there."""
        return _file().remove(self, message_id)

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
        return _file().messages(self, limit)
