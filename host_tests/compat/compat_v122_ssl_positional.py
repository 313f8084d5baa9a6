"""v122_ssl, with SSLContext.load_verify_locations(cadata) taking cadata by position only
(no keyword), in case v1.22's C method is so: the firmware must load its CAs either way."""
import compat
import compat_v122_ssl


def _positional_only(self, *cadata):  # a keyword raises TypeError, as for a C method without one
    compat.report["cadata_by_position"] = compat.report.get("cadata_by_position", 0) + 1
    self._ctx.load_verify_locations(*cadata)


compat_v122_ssl.SSLContext.load_verify_locations = _positional_only
compat.imposed.append("v122_ssl_positional")
