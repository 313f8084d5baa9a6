"""The Lambda runtime of the local AWS stand-in (tools/localaws/local_aws.py): runs a handler from its
source file in this process, as Lambda runs it in a container."""
import contextlib
import importlib.util
import io
import json
import os
import threading
import time
import traceback
import uuid

import boto3
import boto3.session


class _Context:
    """Lambda's context object, as far as a handler reads it."""

    def __init__(self, fn, arn, request_id):
        self.function_name = fn.function_name
        self.function_version = fn.version
        self.invoked_function_arn = arn
        self.aws_request_id = request_id
        self.memory_limit_in_mb = 128
        self.log_group_name = "/aws/lambda/" + fn.function_name
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self._deadline = time.monotonic() + 30

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionRuntime:
    """Runs one Lambda handler from a source file in this process, the way Lambda runs it:
    a module loaded once (a warm container: module globals such as a cached boto3 client
    persist between invocations), the function's environment variables plus the runtime's
    (region, credentials, endpoint) set while it runs, and its exceptions turned into
    Lambda's Unhandled error document."""

    _env_lock = threading.Lock()  # os.environ is process-wide: one invocation at a time

    def __init__(self, source, handler="lambda_handler"):
        self.source = source
        self.handler_name = handler
        self.environment = {}  # the runtime's variables (region, credentials, endpoint)
        self._module = None
        self._session = None

    def _handler(self):
        if self._module is None:
            name = "local_aws_function_%s" % uuid.uuid4().hex
            spec = importlib.util.spec_from_file_location(name, self.source)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._module = module
        return getattr(self._module, self.handler_name)

    @contextlib.contextmanager
    def _container(self, fn, output):
        """While the handler runs: its environment, its own boto3 default session (botocore
        caches credentials in a session, and each Lambda container is a new process), its
        stdout captured for the log."""
        with self._env_lock, _environment(dict(self.environment, **fn.environment_vars)), \
                contextlib.redirect_stdout(output):
            saved = boto3.DEFAULT_SESSION
            if self._session is None:
                self._session = boto3.session.Session()
            boto3.DEFAULT_SESSION = self._session
            try:
                yield
            finally:
                boto3.DEFAULT_SESSION = saved

    def invoke(self, fn, arn, event_bytes, log_tail):
        """(X-Amz-Function-Error or None, payload bytes, log text) for one invocation of the
        moto function fn, invoked as arn."""
        request_id = str(uuid.uuid4())
        output = io.StringIO()
        error = None
        with self._container(fn, output):
            try:
                event = json.loads(event_bytes) if event_bytes else {}
                result = self._handler()(event, _Context(fn, arn, request_id))
                payload = json.dumps(result).encode()
            except Exception as exc:  # the function failed: Lambda reports it, it does not crash
                error = exc
                frames = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
                payload = json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__,
                                      "requestId": request_id, "stackTrace": frames}).encode()
                output.write("[ERROR] %s: %s\n%s" % (type(exc).__name__, exc, "".join(frames)))
        log = ""
        if log_tail:
            log = "START RequestId: %s Version: %s\n%sEND RequestId: %s\nREPORT RequestId: %s\t" \
                  "Duration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 64 MB\t\n" \
                  % (request_id, fn.version, output.getvalue(), request_id, request_id)
        return ("Unhandled" if error is not None else None), payload, log


@contextlib.contextmanager
def _environment(values):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
