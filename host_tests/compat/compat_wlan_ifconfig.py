"""v1.22/v1.23's WLAN: ifconfig() only (ipconfig() came with v1.24), and no
network.STAT_CONNECT_FAIL (v1.22-v1.24 name status 203 STAT_ASSOC_FAIL only)."""
import compat
import wlan_shape

asked = []  # the WLAN methods the firmware called for the address
compat.report["address_calls"] = asked


class WLAN(wlan_shape.WLANBase):
    def ifconfig(self, *config):
        asked.append("ifconfig")
        return self._wlan.ifconfig(*config)


compat.replace("network", wlan_shape.Module(WLAN, drop=("STAT_CONNECT_FAIL",), add=(("STAT_ASSOC_FAIL", 203),)))
compat.imposed.append("wlan_ifconfig")
