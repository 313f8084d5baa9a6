"""A pytest plugin of make mutate (tools/maintainer/mutate.py): the class that cosmic-ray's
ExceptionReplacer puts in an `except` clause (`except OSError:` becomes `except
CosmicRayTestingException:`), defined as a builtin that nothing raises. Without it the
mutated clause raises NameError whenever an exception reaches it, and the mutant counts
as killed whether or not a test asserts what that handler does. (Tests that run the
firmware in a subprocess, under MicroPython or a CPython driver, still meet the NameError.)"""
import builtins


class CosmicRayTestingException(Exception):
    """Raised by nothing: a clause that catches only it catches nothing."""


builtins.CosmicRayTestingException = CosmicRayTestingException
