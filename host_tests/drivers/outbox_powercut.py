"""Cuts the power at every point of the outbox's writes and restarts, under MicroPython
(the unix port) or CPython; prints what each restart recovered, for test_outbox.py.

    micropython outbox_powercut.py FIRMWARE_LIB WORKDIR

A "power cut" after n units: the writes stop after n bytes (the bytes before it are on
flash), a rename or remove counts as one unit, and nothing runs after it. Each case
starts from an outbox of three messages, applies one operation (add or remove) with the
cut, then opens the outbox again as a fresh boot would. The third operation, "recover",
is a start on a damaged file (its end cut off), whose rebuilding is cut. Two file systems: "posix"
(rename replaces, as LittleFS) and "fat" (rename refuses an existing target). One JSON
line per case: {"fs", "op", "cut", "finished", "recovered": [[id, subject, body]],
"next_id", "log": [...]}, and a first line {"base": [...], "new": [...]}.
"""
import json
import os
import sys


class PowerCut(BaseException):
    pass


class Budget:
    units = None  # None: no cut

    @classmethod
    def spend(cls, n):
        """How many of n units happen before the cut (raises after spending them)."""
        if cls.units is None:
            return n
        allowed = min(n, cls.units)
        cls.units -= allowed
        return allowed


class CuttingFile:
    def __init__(self, f):
        self.f = f

    def write(self, data):
        allowed = Budget.spend(len(data))
        self.f.write(data[:allowed])
        if allowed < len(data) or Budget.units == 0:
            self.f.close()  # what reached the flash stays there
            raise PowerCut()
        return len(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def cutting_open(path, mode="r"):
    f = open(path, mode)
    return CuttingFile(f) if "w" in mode else f


class CuttingOs:
    """os for the outbox: rename and remove are cut points; fat: rename does not replace."""

    def __init__(self, fat):
        self.fat = fat

    def stat(self, path):
        return os.stat(path)

    def urandom(self, n):
        return os.urandom(n)

    def _step(self):
        if Budget.spend(1) < 1:
            raise PowerCut()

    def rename(self, old, new):
        self._step()
        if self.fat:
            try:
                os.stat(new)
                raise OSError(17)  # EEXIST
            except OSError as e:
                if e.args and e.args[0] == 17:
                    raise
        os.rename(old, new)

    def remove(self, path):
        self._step()
        os.remove(path)


def clean(workdir):
    for name in os.listdir(workdir):
        if name.startswith("outbox"):
            os.remove(workdir + "/" + name)


def main(argv):
    sys.path.insert(0, argv[1])
    from mpaws import outbox, outbox_file, transient

    # The file's code (mpaws.outbox_file) stays loaded, so that its open and os can be
    # replaced: the outbox forgets it after each use otherwise.
    transient.forget = lambda *names: None

    workdir = argv[2]
    path = workdir + "/outbox.txt"
    log = []
    texts = [("first", "body 1"), ("second \"quoted\"", "line\nbreak"), ("third é", "\u00e9\u65e5 \x01")]
    new = ("new", "the added message")
    print(json.dumps({"base": texts, "new": new}))
    for fs in ("posix", "fat"):
        for op in ("add", "remove", "recover"):
            cut = 0
            while True:
                clean(workdir)
                Budget.units = None
                outbox_file.open = open
                outbox_file.os = os
                box = outbox.Outbox(path, 10, "dev", log=log.append)
                for subject, body in texts:
                    box.add(subject, body)
                ids = [m[0] for m in box.messages()]
                if op == "recover":  # a damaged file: the end line and half the last message lost
                    with open(path, "rb") as f:
                        data = f.read()
                    with open(path, "wb") as f:
                        f.write(data[:data.rindex(b"\n", 0, len(data) - 1) - 5])
                del log[:]
                outbox_file.open = cutting_open
                outbox_file.os = CuttingOs(fs == "fat")
                Budget.units = cut
                finished = True
                try:
                    if op == "add":
                        box.add(new[0], new[1])
                    elif op == "remove":
                        box.remove(ids[0])
                    else:
                        outbox.Outbox(path, 10, "dev", log=log.append)  # rebuilds the file
                except PowerCut:
                    finished = False
                Budget.units = None
                outbox_file.open = open
                outbox_file.os = os
                again = outbox.Outbox(path, 10, "dev", log=log.append)  # the next boot
                recovered = [list(m) for m in again.messages()]
                next_id = again.add("after", "the boot")
                print(json.dumps({"fs": fs, "op": op, "cut": cut, "finished": finished, "ids": ids,
                                  "recovered": recovered, "next_id": next_id, "log": log}))
                if finished:
                    break
                cut += 1


main(sys.argv)
