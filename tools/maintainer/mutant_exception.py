"""A pytest plugin of make mutate (tools/maintainer/mutate.py): the class that cosmic-ray's
ExceptionReplacer puts in an `except` clause (`except OSError:` becomes `except
CosmicRayTestingException:`), defined as a builtin that nothing raises. Without it the
mutated clause raises NameError whenever an exception reaches it, and the mutant counts
as killed whether or not a test asserts what that handler does. (Tests that run the
firmware in a subprocess, under MicroPython or a CPython driver, still meet the NameError.)"""
import builtins
import os
import re


class CosmicRayTestingException(Exception):
    """Raised by nothing: a clause that catches only it catches nothing."""


builtins.CosmicRayTestingException = CosmicRayTestingException

# The operator makes one name of a dotted class: `except errors.OutboxError` becomes `except
# errorsCosmicRayTestingExceptionOutboxError`. Such a name in the firmware (the mutant's) is
# the same class.
FIRMWARE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "firmware")
for folder, _, names in os.walk(FIRMWARE):
    for name in names:
        if name.endswith(".py"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                for glued in re.findall(r"\w*%s\w*" % CosmicRayTestingException.__name__, f.read()):
                    setattr(builtins, glued, CosmicRayTestingException)
