"""The one TLS server of the stand-in's endpoints (local_aws.py, its API Gateway and its
credentials provider) and of the tests' server (host_tests/aws_server.py, hostile modes and all):

- the certificates: one CA per process (trustme, RSA: made once, it is slow), leaf
  certificates cached by CA, names and validity; server_context() makes the TLS context the
  endpoints offer (TLS 1.2, the cipher AWS offers first);
- TlsListener: a listener on 127.0.0.1, one thread per connection, the TLS handshake
  (counted, a failure recorded in tls_errors), every live connection shut down by
  close_listener(), as a restarted endpoint would. A subclass answers each connection in
  _serve_tls(sock, conn_id), or takes the connection whole in _serve_connection(raw, conn_id).
  Hostile behaviour of the connection itself is the listener's too: a TCP connection
  accepted whose TLS handshake is never answered (stall_next_handshakes(n), or when a
  subclass's _stalls_connection() says so, as AwsServer's "stall_handshake" mode).
"""
import os
import socket
import ssl
import threading
import time

import trustme

TLS_CIPHERS = "ECDHE-RSA-AES128-GCM-SHA256"  # what AWS endpoints offer first to TLS 1.2 clients
HANDSHAKE_TIMEOUT = 10.0
MAX_STALL_S = 120.0  # a stalled connection's thread ends then, if the client is still there

# -- certificates: one CA per name and process, leaf certificates cached ------------------

_certs = {}
_certs_lock = threading.Lock()


def shared_ca(name="shared"):
    """The process's trustme CA (RSA) of that name, made once: "shared" is the one every
    server's certificate comes from unless told otherwise; another name makes a CA nobody
    else trusts (a rogue one)."""
    with _certs_lock:
        if ("ca", name) not in _certs:
            _certs["ca", name] = trustme.CA(key_type=trustme.KeyType.RSA)
        return _certs["ca", name]


def leaf_cert(*hostnames, ca=None, not_before=None, not_after=None):
    """A server certificate (RSA) for hostnames from ca (the shared CA by default), cached."""
    ca = ca or shared_ca()
    key = ("leaf", id(ca), hostnames, not_before, not_after)
    with _certs_lock:
        if key not in _certs:
            _certs[key] = (ca, ca.issue_cert(*hostnames, key_type=trustme.KeyType.RSA, not_before=not_before,
                                             not_after=not_after))  # ca kept: its id stays its own
        return _certs[key][1]


def write_ca_files(ca, folder):
    """ca.pem and ca.der (what a device trusts, as on a board) in folder: their paths."""
    pem, der = os.path.join(folder, "ca.pem"), os.path.join(folder, "ca.der")
    ca.cert_pem.write_to_path(pem)
    with open(der, "wb") as f:
        f.write(ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode()))
    return pem, der


def server_context(cert, tls_version=ssl.TLSVersion.TLSv1_2, ciphers=TLS_CIPHERS, alpn=None, client_ca=None):
    """The server side's TLS context: cert (a trustme leaf), one TLS version, ciphers;
    alpn: the protocols it may select; client_ca: a CA whose client certificate is required
    (mutual TLS: no certificate, or one of another CA, and there is no handshake)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = context.maximum_version = tls_version
    context.set_ciphers(ciphers)
    if alpn:
        context.set_alpn_protocols(alpn)
    cert.configure_cert(context)
    if client_ca is not None:
        context.load_verify_locations(cadata=client_ca.cert_pem.bytes().decode())
        context.verify_mode = ssl.CERT_REQUIRED
    return context


# -- the listener ---------------------------------------------------------------------------


class TlsListener:
    """See the module's doc. _init_listener() first (in __init__), then listen() and
    close_listener(); connections, handshakes (completed; connections, for plain TCP) and
    tls_errors count what happened."""

    def _init_listener(self, context, port=0):
        """context: an ssl.SSLContext (server_context()), or None for plain TCP; port: 0 for
        an ephemeral one (self.port after listen())."""
        self._ssl = context
        self.port = port
        self.connections = 0
        self.handshakes = 0
        self.tls_errors = []
        self._stalls = 0  # the next connections whose handshake is never answered
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._threads = set()
        self._live = set()
        self._listener = None

    def listen(self):
        """Listens on 127.0.0.1:self.port (the same port again after close_listener())."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self._stopping.clear()
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._spawn(self._accept_loop)

    def close_listener(self):
        """Stops accepting, shuts every open connection down, waits for their threads."""
        self._stopping.set()
        with self._lock:
            live = list(self._live)
            threads = list(self._threads)
        for sock in live:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # wakes its thread (also for an SSLSocket)
            except OSError:
                pass
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def stall_next_handshakes(self, count=1):
        """The next count connections are accepted and never answered: a TLS handshake that
        stalls (the client's deadline must end it)."""
        with self._lock:
            self._stalls += count

    # -- connections ------------------------------------------------------------------------

    def _spawn(self, target, *args):
        thread = threading.Thread(target=self._run, args=(target,) + args, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _run(self, target, *args):
        try:
            target(*args)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _accept_loop(self):
        listener = self._listener
        while not self._stopping.is_set():
            try:
                raw, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                conn_id = self.connections
                self._live.add(raw)
            self._spawn(self._stall if self._stalls_connection() else self._serve_connection, raw, conn_id)

    def _stalls_connection(self):
        """Whether the connection just accepted is one whose handshake stalls."""
        with self._lock:
            stall = self._stalls > 0
            self._stalls -= stall
            return stall

    def _handshake(self, raw, timeout=HANDSHAKE_TIMEOUT):
        """The TLS server handshake on an accepted socket: (TLS socket, whether it
        completed; a failure is recorded in tls_errors). The caller closes the TLS socket."""
        sock = self._ssl.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        with self._lock:
            self._live.discard(raw)  # raw is detached now: close_listener() shuts down the TLS socket's fd
            self._live.add(sock)
        if self._stopping.is_set():
            return sock, False
        sock.settimeout(timeout)
        try:
            sock.do_handshake()
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            with self._lock:
                self.tls_errors.append(str(exc))
            return sock, False
        with self._lock:
            self.handshakes += 1
        return sock, True

    def _serve_connection(self, raw, conn_id):
        """The handshake, then _serve_tls(sock, conn_id); the connection closed after."""
        sock = raw
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock, ok = self._handshake(raw)
            if ok:
                self._serve_tls(sock, conn_id)
        except (OSError, ValueError):
            pass  # a connection the client or close_listener() ended
        finally:
            self._forget(raw, sock)

    def _serve_tls(self, sock, conn_id):
        raise NotImplementedError

    def _stall(self, raw, conn_id):
        """Reads and drops what the client sends, answers nothing, until it closes (or
        MAX_STALL_S, or close_listener())."""
        deadline = time.monotonic() + MAX_STALL_S
        try:
            raw.settimeout(0.1)
            while not self._stopping.is_set() and time.monotonic() < deadline:
                try:
                    if not raw.recv(65536):
                        return
                except socket.timeout:
                    continue
        except OSError:
            pass
        finally:
            self._forget(raw, raw)

    def _forget(self, raw, sock):
        with self._lock:
            self._live.discard(raw)
            self._live.discard(sock)
        for s in (sock, raw):
            try:
                s.close()
            except OSError:
                pass
