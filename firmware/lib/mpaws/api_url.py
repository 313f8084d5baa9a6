# An API's URL (API Gateway: a stage's, or a custom domain's with its base path), taken
# apart. Its own module: the config check (mpaws.settings_aws) loads it for one call, not
# mpaws.apigateway's 5 KB of client code.
from mpaws import sigv4

EXECUTE_API = "execute-api"


def parse_url(url):
    """(host, port, base path, region or None) of an API's URL: https://HOST[:PORT][/BASE].
    The region is that of an execute-api host (ID.execute-api.REGION.amazonaws.com); a custom
    domain's is None. The base path (the stage, or a custom domain's mapping) is kept as
    written, without a trailing '/'."""
    if not isinstance(url, str) or not url.startswith("https://"):
        raise ValueError("API URL must start with https:// (API Gateway serves HTTPS only)")
    rest = url[8:]
    i = rest.find("/")
    authority, base = (rest, "") if i < 0 else (rest[:i], rest[i:].rstrip("/"))
    if any(b <= 32 or b in b"?#\x7f" for b in url.encode()):  # bytes: a str's characters would be interned
        raise ValueError("API URL: no spaces, control characters, query or fragment")
    if "//" in base or "/." in base:
        raise ValueError("API URL: the path has an empty or '.' segment")
    host, _, port = authority.partition(":")
    if not host or not sigv4.made_of(host, sigv4.LETTERS + sigv4.DIGITS + "-."):
        raise ValueError("API URL: the host is not a host name")
    if port:
        if not sigv4.made_of(port, sigv4.DIGITS) or not 0 < int(port) < 65536:
            raise ValueError("API URL: the port must be a number from 1 to 65535")
        port = int(port)
    else:
        port = 443
    parts = host.split(".")
    region = parts[2] if len(parts) >= 5 and parts[1] == EXECUTE_API and parts[3] == "amazonaws" else None
    return host, port, base, region
