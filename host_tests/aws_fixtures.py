"""Pytest fixtures for the local AWS stand-in (aws_server.AwsServer).

Each fixture starts a fresh server on 127.0.0.1 (an ephemeral port) for one test and
stops it afterwards. The TLS certificates come from one CA made once per session, so a
server starts in a few milliseconds.
"""
import pytest

from aws_server import AwsServer

__all__ = ["aws_server", "aws_server_factory", "plain_http_server", "wrong_host_server"]


def echo(event):
    return event


@pytest.fixture
def aws_server_factory():
    """make(**kwargs) -> a started AwsServer (see AwsServer for the arguments), with the
    function "notify" registered (it echoes its event); all are stopped after the test."""
    servers = []

    def make(**kwargs):
        server = AwsServer(**kwargs)
        server.register_function("notify", echo)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def aws_server(aws_server_factory):
    """TLS 1.2 server for "localhost"; key AKIAIOSFODNN7EXAMPLE with a random secret;
    us-east-1; function "notify" echoes its event."""
    return aws_server_factory()


@pytest.fixture
def plain_http_server(aws_server_factory):
    """The same server without TLS (plain HTTP on its port)."""
    return aws_server_factory(tls=False)


@pytest.fixture
def wrong_host_server(aws_server_factory):
    """A TLS server whose certificate, from the same trusted CA, is for "wrong.example"."""
    return aws_server_factory(cert_hostname="wrong.example")
