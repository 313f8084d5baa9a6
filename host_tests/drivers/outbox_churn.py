"""Changes the outbox without end, for test_outbox.py to kill at random moments, under
MicroPython (the unix port) or CPython.

    micropython outbox_churn.py FIRMWARE_LIB OUTBOX_PATH

It first prints "ready <subjects>" (what it recovered, as JSON) and waits for "go <first>"
on stdin. Operation i (from first on): remove the oldest message when i % 3 == 2 or when 8 are stored, else add ("m<i>",
"body <i>"). After each one it prints "done <i> <id>", so the test knows the state
before the operation the kill may have cut.
"""
import json
import sys


def main(argv):
    sys.path.insert(0, argv[1])
    from mpaws import outbox

    box = outbox.Outbox(argv[2], 1000, "churn")
    print("ready " + json.dumps([m[1] for m in box.messages()]))
    go = sys.stdin.readline().split()
    if not go or go[0] != "go":
        return
    i = int(go[1])
    while True:
        if i % 3 == 2 or len(box) >= 8:
            oldest = box.oldest()
            message_id = oldest[0] if oldest else "-"
            if oldest:
                box.remove(oldest[0])
        else:
            message_id = box.add("m%d" % i, "body %d" % i)
        print("done %d %s" % (i, message_id))
        i += 1


main(sys.argv)
