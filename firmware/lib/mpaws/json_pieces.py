# JSON text made in pieces: a str as a JSON string literal, or (key, value) pairs of str as a
# flat JSON object, hashed, measured and sent piece by piece, never joined. The body of every
# request a notify sends (Lambda's payload, API Gateway's), and of every outbox line: in its
# own module, so that a device in direct-SNS or API Gateway mode holds none of Lambda's code.
import sys


# The UTF-8 bytes of a str, to scan and slice: MicroPython's memoryview of a str is its
# UTF-8, in place (no copy); CPython encodes a copy.
_utf8 = memoryview if sys.implementation.name == "micropython" else str.encode


def _escape(b):
    # The JSON escape of byte b (a quote, a backslash or a control character), as json.dumps
    # writes it: two characters of one constant, or \u00XX for the rare control
    # character without a short form.
    i = 0
    for c in b'"\\\n\r\t\x08\x0c':
        if c == b:
            return '\\"\\\\\\n\\r\\t\\b\\f'[i : i + 2]
        i += 2
    return "\\u%04x" % b


def _string_pieces(text):
    # The text's UTF-8 is scanned as bytes (small ints: iterating the str would make, and
    # intern for good, a one-character string per character); what needs no escaping goes
    # out as slices of it (memoryviews on MicroPython: no copy), the rest as escapes. Bytes
    # of multi-byte characters are >= 0x80: never escaped, never split.
    data = _utf8(text)
    yield '"'
    start = i = 0
    for b in data:
        if b < 32 or b == 34 or b == 92:
            if start < i:
                yield data[start:i]
            yield _escape(b)
            start = i + 1
        i += 1
    if start == 0:
        yield text  # nothing escaped: the str itself
    elif start < i:
        yield data[start:]
    yield '"'


class JsonPieces:
    """A str as a JSON string literal, or (key, value) pairs of str as a flat JSON object,
    formatted like json.dumps(..., ensure_ascii=False) ({"a": "b", "c": "d"}; non-ASCII kept
    as UTF-8: identical on MicroPython and CPython, whose json.dumps differ). Its pieces
    (str, and bytes-like slices of the text) are made anew each time it is iterated: hashed,
    measured and sent one by one, never joined, so that a message is never twice in the
    heap, however much of it needs escaping."""

    def __init__(self, value):
        self.value = value

    def __iter__(self):
        value = self.value
        if isinstance(value, str):
            yield from _string_pieces(value)
            return
        yield "{"
        first = True
        for key, text in value:
            if not first:
                yield ", "
            first = False
            yield from _string_pieces(key)
            yield ": "
            yield from _string_pieces(text)
        yield "}"


# json_string(text), json_object(pairs): one class, told apart by what it is given.
json_string = json_object = JsonPieces
