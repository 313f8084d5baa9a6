"""The firmware's request bodies, made in pieces: its JSON (mpaws.awslambda.json_string and
json_object: the body of every Lambda and API Gateway request and every outbox line) and
direct SNS's form body (mpaws.sns). Byte for byte what Python's json.dumps(...,
ensure_ascii=False) and urllib's quote() write, under CPython and under MicroPython (the
.mpy build), whatever the text; escaped in pieces, with no object per character, no name
interned, and no escaped copy of the text: a body that needs escaping is sent in the heap
of one that does not."""
import hashlib
import json
import os
import random
import re
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO, run_micropython
from device import mpy_build

from mpaws import awslambda, sns

RUNNER = os.path.join(REPO, "host_tests", "mpy", "run_pieces.py")

# Every character class JSON treats apart: the escaped ones (control characters, quote,
# backslash), DEL and '/' (not escaped), and UTF-8 of 2, 3 and 4 bytes. No surrogates: a
# MicroPython str cannot hold one, and a request body is UTF-8.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300) | st.text(
    st.sampled_from('\x00\x01\x08\t\n\x0b\x0c\r\x1f "\\/\x7fé€😀a'), max_size=60)


def joined(pieces):
    out = bytearray()
    for piece in pieces:
        out.extend(piece.encode() if isinstance(piece, str) else piece)
    return bytes(out)


def expected(value):
    return json.dumps(value, ensure_ascii=False).encode()


@settings(max_examples=400, deadline=None)
@given(text=TEXT)
def test_string_is_json_dumps(text):
    pieces = awslambda.json_string(text)
    assert joined(pieces) == expected(text)
    assert joined(pieces) == expected(text)  # made anew on each iteration


@settings(max_examples=200, deadline=None)
@given(fields=st.dictionaries(TEXT, TEXT, max_size=5))
def test_object_is_json_dumps(fields):
    assert joined(awslambda.json_object(list(fields.items()))) == expected(fields)


def form(pairs):
    """The SNS Publish body with pairs as its fields, encoded by urllib (RFC 3986)."""
    fields = "".join("&%s=%s" % (k, quote(v, safe="~")) for k, v in pairs)
    return ("Action=Publish&Version=2010-03-31" + fields).encode()


@settings(max_examples=300, deadline=None)
@given(values=st.lists(TEXT, max_size=4))
def test_sns_form_is_percent_encoded(values):
    pairs = [("Field%d" % i, v) for i, v in enumerate(values)]
    body = sns._Form(pairs)
    assert joined(body) == form(pairs)
    assert joined(body) == form(pairs)


def test_no_copy_of_a_text_that_needs_no_escaping():
    text = "a plain body, " * 100
    assert list(awslambda.json_string(text)) == ['"', text, '"']
    unreserved = "a_plain-body.~" * 100
    assert list(sns._Form([("Message", unreserved)]))[-1] == unreserved


def _cases(count=150, seed=18):
    """Texts for the MicroPython run: the edges (escapes first, last, in a row, every
    control character, each UTF-8 length) and random ones, over the 512-byte buffer too."""
    rnd = random.Random(seed)
    alphabet = [chr(i) for i in range(32)] + list(' "\\/\x7fazAZ09éß€日😀🎉')
    edges = ["", '"', "\\", "\n", '""', "\n\n\r\t", "\x00end", "start\x1f", "é\"€\\😀",
             "".join(map(chr, range(128))),
             "x" * 600 + "\n" + "y" * 600, "日本語\n" * 200]
    cases = [[["edges", text]] for text in edges]
    for _ in range(count):
        pairs = {}
        for _ in range(rnd.randint(1, 4)):
            key = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 8)))
            pairs[key] = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 700)))
        cases.append(list(pairs.items()))
    return cases


@pytest.fixture(scope="module")
def mpy_lib(mpy_cross, tmp_path_factory):
    """firmware/lib as the .mpy files a board runs."""
    return os.path.join(mpy_build(mpy_cross, str(tmp_path_factory.mktemp("json") / "firmware")), "lib")


def _names(line):
    return int(re.search(r"n_qstr=(\d+)", line).group(1))


def test_micropython_matches_json_dumps_and_interns_nothing(micropython, mpy_lib, tmp_path):
    cases = _cases()
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases, ensure_ascii=False), encoding="utf-8")  # no \\u escapes: MicroPython
    # decodes a surrogate pair's halves one by one
    proc = run_micropython(micropython, [RUNNER, mpy_lib, str(path)], heapsize="1m", cwd=str(tmp_path))
    assert proc.returncode == 0 and not proc.stderr, proc.stdout[-2000:] + proc.stderr
    lines = proc.stdout.splitlines()
    tables = [line for line in lines if line.startswith("qstr pool")]
    results = [line for line in lines if not line.startswith("qstr pool")]
    assert len(results) == len(cases) and len(tables) == 2
    for case, line in zip(cases, results):
        words = line.split(" ")
        assert "AGAIN" not in words, case
        assert bytes.fromhex(words[0]) == expected(dict(case)), case
        assert [bytes.fromhex(w) for w in words[1:-1]] == [expected(value) for _, value in case]
        assert bytes.fromhex(words[-1]) == form(case)
    # Every character of ~60,000 went through the encoder: none became an interned name.
    assert _names(tables[1]) == _names(tables[0]), tables


# A body of 23,200 characters with a quote pair and a line break every 29, as JSON and as
# SNS's form: the old encoders made a list entry per character (over 180 KB of list on this
# 64-bit port, failing in a 300 KB heap) and an escaped copy. The script and the body run in
# 52 KB; 64 KB leaves no room for a second copy of the body (25.6 KB escaped).
HEAP_SCRIPT = """
import gc, hashlib, sys
sys.path[:] = [%r, ".frozen"]
from mpaws import awslambda, sns
body = "a line of a report, \\"quoted\\"\\n" * 800
gc.collect()
print(len(body))
for pieces in (awslambda.json_object([("subject", "s"), ("body", body)]), sns._Form([("Message", body)])):
    h = hashlib.sha256()
    size = 0
    for piece in pieces:
        h.update(piece)
        size += len(piece) if isinstance(piece, str) else len(memoryview(piece))
    print(size, h.digest().hex())
"""


def test_escaped_body_is_encoded_in_a_heap_that_holds_it_once(micropython, mpy_lib, tmp_path):
    script = tmp_path / "heap.py"
    script.write_text(HEAP_SCRIPT % mpy_lib)
    proc = run_micropython(micropython, [str(script)], heapsize="64k", cwd=str(tmp_path))
    assert proc.returncode == 0 and not proc.stderr, proc.stdout + proc.stderr
    chars, json_size, json_digest, form_size, form_digest = proc.stdout.split()
    body = 'a line of a report, "quoted"\n' * 800
    assert int(chars) == len(body) > 20000
    for want, size, digest in ((expected({"subject": "s", "body": body}), json_size, json_digest),
                               (form([("Message", body)]), form_size, form_digest)):
        assert int(size) == len(want) and digest == hashlib.sha256(want).hexdigest()
