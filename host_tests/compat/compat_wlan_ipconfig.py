"""A WLAN without the deprecated ifconfig(): ipconfig() only (v1.24 and later have both)."""
import compat
import wlan_shape

asked = []  # the WLAN methods the firmware called for the address
compat.report["address_calls"] = asked


class WLAN(wlan_shape.WLANBase):
    def ipconfig(self, *param):
        asked.append("ipconfig")
        if param == ("addr4",):
            return (self._wlan.ifconfig()[0], "255.255.255.0")
        raise ValueError("unexpected ipconfig%r" % (param,))


compat.replace("network", wlan_shape.Module(WLAN))
compat.imposed.append("wlan_ipconfig")
