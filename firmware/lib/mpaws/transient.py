# Code that runs once per session lives in modules loaded for that use and forgotten after
# it: the config checks (mpaws.settings_aws, mpaws.settings_board), CA loading and the TLS
# context (mpaws.certs), opening and repairing the outbox (mpaws.outbox_recovery). Their
# code and messages, some KB of heap, are then free again for the TLS handshake and the
# requests, on a board whose heap holds every imported module's bytecode.
import sys


def forget(*names):
    """Lets go of each mpaws.<name> (sys.modules and the package's attribute): its heap is
    freed once nothing else holds it, and a later import loads it again."""
    package = sys.modules["mpaws"]
    for name in names:
        sys.modules.pop("mpaws." + name, None)
        if hasattr(package, name):
            delattr(package, name)
