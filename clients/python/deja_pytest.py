"""pytest plugin: run a test session against ``deja serve`` in a test mode.

With a cassette configured, the plugin starts ``deja serve --mode replay`` (or ``record`` with
``--deja-record``) on a free loopback port before collection and points ``OPENAI_BASE_URL`` and
``ANTHROPIC_BASE_URL`` at it, so the official SDKs (and anything else reading those variables)
talk to deja. deja is stopped, and the variables restored, when the session ends.

Enable it with ``-p deja_pytest`` (or ``pytest_plugins = ["deja_pytest"]`` in conftest.py, or by
installing this directory, which registers the ``pytest11`` entry point). It does nothing unless a
cassette is given::

    pytest --deja-cassette tests/cassette.json                 # replay: no network, no API key
    pytest --deja-cassette tests/cassette.json --deja-record   # record against the real APIs

    # pytest.ini / pyproject [tool.pytest.ini_options]:
    deja_cassette = tests/cassette.json      # relative to the ini file's directory

Options: ``--deja-mode replay|record|record-missing``, ``--deja-bin`` (ini ``deja_bin``, env
``DEJA_BIN``, default ``deja`` on PATH), ``--deja-upstream`` and ``--deja-anthropic-upstream`` (where
record modes send requests), ``--deja-used-log`` (keys of the records used, for
``deja cassette prune``). In replay mode ``OPENAI_API_KEY`` and ``ANTHROPIC_API_KEY`` get placeholder
values when unset, since the SDKs insist on one and nothing reaches a provider.

The ``deja`` fixture (session scope) gives the running server: ``url``, ``mode``, ``cassette``.
With pytest-xdist, the controller starts deja and the workers inherit the environment.

Standard library only.
"""

import collections
import os
import queue
import re
import shutil
import subprocess
import threading

import pytest

MODES = ("replay", "record", "record-missing")
ENV_KEYS = ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")
START_TIMEOUT_S = 15
STOP_TIMEOUT_S = 15
_LISTENING = re.compile(r"^deja listening on (\S+)$")
_SERVER_KEY = pytest.StashKey()


class DejaServer:
    """One ``deja serve`` process. Not thread-safe: the session's main thread drives it."""

    def __init__(self, binary, mode, cassette, upstream=None, anthropic_upstream=None, used_log=None):
        self.binary = binary
        self.mode = mode
        self.cassette = cassette
        self.upstream = upstream
        self.anthropic_upstream = anthropic_upstream
        self.used_log = used_log
        self.url = None
        self._proc = None
        self._stderr = collections.deque(maxlen=50)

    @property
    def openai_base_url(self):
        return self.url + "/v1"

    def start(self):
        args = [self.binary, "serve", "--listen", "127.0.0.1:0", "--mode", self.mode,
                "--cassette", self.cassette]
        if self.upstream:
            args += ["--upstream", self.upstream]
        if self.anthropic_upstream:
            args += ["--anthropic-upstream", self.anthropic_upstream]
        if self.used_log:
            args += ["--used-log", self.used_log]
        try:
            self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True)
        except OSError as e:
            raise RuntimeError(f"cannot run {self.binary!r}: {e} (set --deja-bin or DEJA_BIN)") from e
        lines = queue.Queue()

        def pump(stream, sink):
            for line in stream:
                sink(line.rstrip("\n"))
            if stream is self._proc.stdout:
                lines.put(None)

        # Both pipes are drained for the whole run, so deja never blocks on a full pipe.
        threading.Thread(target=pump, args=(self._proc.stdout, lines.put), daemon=True).start()
        stderr_pump = threading.Thread(target=pump, args=(self._proc.stderr, self._stderr.append),
                                       daemon=True)
        stderr_pump.start()
        while True:
            try:
                line = lines.get(timeout=START_TIMEOUT_S)
            except queue.Empty:
                self._proc.kill()
                raise RuntimeError(f"deja serve printed no listening line within {START_TIMEOUT_S} s"
                                   + self._log()) from None
            if line is None:
                code = self._proc.wait()
                # deja has exited: let the stderr pump reach EOF so the message says why (without
                # this join the error line raced the report and was sometimes missing).
                stderr_pump.join(timeout=START_TIMEOUT_S)
                raise RuntimeError(f"deja serve exited with code {code} before listening" + self._log())
            m = _LISTENING.match(line)
            if m:
                self.url = "http://" + m.group(1)
                return

    def stop(self):
        """SIGTERM (in-flight requests finish; recordings are already on disk); returns the exit code."""
        if self._proc is None:
            return 0
        if self._proc.poll() is None:
            self._proc.terminate()
        try:
            return self._proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            return -9

    def _log(self):
        return "".join("\n  " + line for line in self._stderr)


def pytest_addoption(parser):
    group = parser.getgroup("deja", "deja test mode (record and replay LLM API calls)")
    group.addoption("--deja-cassette", default=None, metavar="PATH",
                    help="cassette file; enables the plugin (ini: deja_cassette)")
    group.addoption("--deja-record", action="store_true", default=False,
                    help="record: send every request upstream and store the answers")
    group.addoption("--deja-mode", choices=MODES, default=None,
                    help="replay (default), record or record-missing (ini: deja_mode)")
    group.addoption("--deja-bin", default=None, metavar="PATH",
                    help="the deja binary (ini: deja_bin; env DEJA_BIN; default: deja on PATH)")
    group.addoption("--deja-upstream", default=None, metavar="URL",
                    help="OpenAI-compatible upstream for record modes")
    group.addoption("--deja-anthropic-upstream", default=None, metavar="URL",
                    help="Anthropic upstream for record modes")
    group.addoption("--deja-used-log", default=None, metavar="PATH",
                    help="append the keys of the records used (for deja cassette prune)")
    parser.addini("deja_cassette", "cassette file, relative to the ini file", default="")
    parser.addini("deja_mode", "replay, record or record-missing", default="")
    parser.addini("deja_bin", "the deja binary", default="")


def _ini_path(config, value):
    base = config.inipath.parent if config.inipath else config.rootpath
    return str(base / value)


def _server_for(config):
    cassette = config.getoption("deja_cassette")
    if cassette:
        cassette = os.path.abspath(cassette)
    elif config.getini("deja_cassette"):
        cassette = _ini_path(config, config.getini("deja_cassette"))
    else:
        return None
    mode = ("record" if config.getoption("deja_record")
            else config.getoption("deja_mode") or config.getini("deja_mode") or "replay")
    if mode not in MODES:
        raise pytest.UsageError(f"deja_mode must be one of {', '.join(MODES)} (got {mode!r})")
    binary = config.getoption("deja_bin") or config.getini("deja_bin") or os.environ.get("DEJA_BIN")
    binary = binary or shutil.which("deja") or "deja"
    used_log = config.getoption("deja_used_log")
    return DejaServer(binary, mode, cassette, config.getoption("deja_upstream"),
                      config.getoption("deja_anthropic_upstream"),
                      os.path.abspath(used_log) if used_log else None)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # Before collection, so clients built at import time already see the base URLs.
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller's deja is in the inherited environment
    server = _server_for(config)
    if server is None:
        return
    try:
        server.start()
    except RuntimeError as e:
        raise pytest.UsageError(f"deja: {e}") from None
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    os.environ["OPENAI_BASE_URL"] = server.openai_base_url
    os.environ["ANTHROPIC_BASE_URL"] = server.url
    if server.mode == "replay":
        os.environ.setdefault("OPENAI_API_KEY", "sk-deja-replay")
        os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-deja-replay")
    config.stash[_SERVER_KEY] = (server, saved)


def pytest_unconfigure(config):
    entry = config.stash.get(_SERVER_KEY, None)
    if entry is None:
        return
    server, saved = entry
    del config.stash[_SERVER_KEY]
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    code = server.stop()
    if code != 0:
        # The session's outcome is already decided; make the failure impossible to miss.
        print(f"\ndeja: deja serve exited with code {code}" + server._log(), flush=True)


def pytest_report_header(config):
    entry = config.stash.get(_SERVER_KEY, None)
    if entry is not None:
        server = entry[0]
        return f"deja: {server.mode} {server.cassette} at {server.url}"
    return None


@pytest.fixture(scope="session")
def deja(pytestconfig):
    """The running deja server (url, openai_base_url, mode, cassette); skips without a cassette."""
    entry = pytestconfig.stash.get(_SERVER_KEY, None)
    if entry is None:
        if hasattr(pytestconfig, "workerinput") and os.environ.get("ANTHROPIC_BASE_URL"):
            pytest.skip("deja runs in the xdist controller; use OPENAI_BASE_URL/ANTHROPIC_BASE_URL")
        pytest.skip("no deja cassette configured (--deja-cassette or ini deja_cassette)")
    return entry[0]
