"""Encodes texts as the firmware's request bodies do, in pieces (mpaws.awslambda.json_object
and json_string; mpaws.sns's form body), under MicroPython (or CPython), one line per case.

    micropython host_tests/mpy/run_pieces.py LIB_DIR CASES_FILE

CASES_FILE: a JSON list of cases, each a list of [key, value] pairs. Prints per case the
hex of the JSON object's bytes (its pieces joined), of each value's JSON string literal,
and of the SNS form body with the pairs as its fields, on one line, separated by spaces;
"AGAIN" when a second iteration gave other pieces. Under
MicroPython, the interned-name table is printed (micropython.qstr_info()) after a first
case, then after the others: encoding them must intern nothing.
"""
import json
import sys

sys.path[:] = [sys.argv[1], ".frozen"] if sys.implementation.name == "micropython" else [sys.argv[1]] + sys.path

from binascii import hexlify  # noqa: E402

from mpaws import awslambda, sns  # noqa: E402

try:
    from micropython import qstr_info
except ImportError:  # CPython

    def qstr_info():
        pass


def joined(pieces):
    out = bytearray()
    for piece in pieces:
        out.extend(piece.encode() if isinstance(piece, str) else piece)
    return out


def hexed(pieces):
    first = joined(pieces)
    return hexlify(first).decode() + ("" if joined(pieces) == first else " AGAIN")


with open(sys.argv[2]) as f:
    cases = json.loads(f.read())
for number, case in enumerate(cases):
    pairs = [(key, value) for key, value in case]
    words = [hexed(awslambda.json_object(pairs))]
    for _, value in pairs:
        words.append(hexed(awslambda.json_string(value)))
    words.append(hexed(sns._Form(pairs)))
    print(" ".join(words))
    if number == 0:
        qstr_info()  # after the first case: its code paths have run once
qstr_info()
