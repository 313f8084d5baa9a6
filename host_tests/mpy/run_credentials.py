"""Runs the firmware's credentials reply parser (mpaws.credentials_reply.parse) on cases
from a JSON file, under MicroPython (or CPython), one JSON line per case.

    micropython host_tests/mpy/run_credentials.py LIB_DIR CASES_FILE

CASES_FILE: [{"body": <hex of the reply body>, "date": Date header or null, "now":
seconds (the port's epoch) or null}]. Prints {"ok": [access key, lifetime]} or
{"error": class name, "message": ...} per case; the secret and token are never printed.
"""
import json
import sys

sys.path[:] = [sys.argv[1], ".frozen"] if sys.implementation.name == "micropython" else [sys.argv[1]] + sys.path

from binascii import unhexlify  # noqa: E402

from mpaws import credentials_reply, errors  # noqa: E402

with open(sys.argv[2]) as f:
    cases = json.loads(f.read())
for case in cases:
    try:
        access_key, secret, token, lifetime = credentials_reply.parse(unhexlify(case["body"]), case["date"],
                                                                      case["now"])
        out = {"ok": [access_key, lifetime, len(secret), len(token)]}
    except errors.AWSError as e:
        out = {"error": type(e).__name__, "message": str(e)}
    except Exception as e:  # anything else is a bug the test reports
        out = {"error": "UNEXPECTED " + type(e).__name__, "message": str(e)}
    print(json.dumps(out))
