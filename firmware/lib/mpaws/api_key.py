# API Gateway's API keys: the "signer" of an mpaws.client.Client for a route that wants an
# API key (the x-api-key header) and no AWS credentials. A module of its own: a device that
# signs with AWS keys never holds it.


class KeyAuth:
    """A signer that signs nothing: it adds an API key header (API Gateway's x-api-key), for
    routes that need no AWS credentials. The key is never part of a repr or a message."""

    service = "execute-api"  # as a Signer for API Gateway says: its replies' hints apply (mpaws.failures)

    def __init__(self, api_key, header="x-api-key"):
        # A list, made once: the client adds it to the request's headers on every attempt.
        self._added = [(header, api_key)]

    def sign(self, method, path, query=None, headers=(), body=None, payload_hash=None, date=None):
        return self._added

    def __repr__(self):
        return "<KeyAuth, a key of %d characters>" % len(self._added[0][1])
