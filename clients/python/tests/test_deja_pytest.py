"""The deja pytest plugin, end to end: inner pytest sessions (pytester, in subprocesses) record
against a small fake OpenAI upstream, then replay with the upstream stopped.

Needs the deja binary: $DEJA_BIN, else <repo>/build/deja (CTest passes its own build).
"""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

PLUGIN_DIR = Path(__file__).resolve().parent.parent
REPO = PLUGIN_DIR.parent.parent
DEJA_BIN = os.environ.get("DEJA_BIN") or str(REPO / "build" / "deja")

pytestmark = pytest.mark.skipif(not os.access(DEJA_BIN, os.X_OK),
                                reason=f"deja binary not found at {DEJA_BIN} (set DEJA_BIN)")

# The inner test module: what a user's test file looks like (standard library HTTP, so the test
# needs no SDK; the SDKs read the same variables).
INNER = '''
import json, os, urllib.error, urllib.request

def ask(text):
    req = urllib.request.Request(
        os.environ["OPENAI_BASE_URL"] + "/chat/completions",
        data=json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.headers.get("X-Deja-Cache"), json.loads(r.read())

def test_hello():
    cache, body = ask("hello")
    assert body["choices"][0]["message"]["content"] == "echo: hello"
    print("CACHE=" + str(cache))

def test_fixture(deja):
    assert os.environ["OPENAI_BASE_URL"] == deja.url + "/v1"
    assert os.environ["ANTHROPIC_BASE_URL"] == deja.url
    print("MODE=" + deja.mode)
'''

INNER_NEW_REQUEST = '''
import json, os, urllib.error, urllib.request

def test_not_recorded():
    req = urllib.request.Request(
        os.environ["OPENAI_BASE_URL"] + "/chat/completions",
        data=json.dumps({"model": "m", "messages": [{"role": "user", "content": "hello!"}]}).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer x"})
    try:
        urllib.request.urlopen(req, timeout=10)
    except urllib.error.HTTPError as e:
        assert e.code == 404
        error = json.loads(e.read())["error"]
        assert error["code"] == "not_recorded"
        assert '/messages/0/content: recorded "hello", this request "hello!"' in error["message"]
        return
    raise AssertionError("a request that was not recorded must fail in replay")
'''


class FakeOpenAI(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self):
        FakeOpenAI.calls += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][-1]["content"]
        answer = json.dumps({
            "id": f"chatcmpl-{FakeOpenAI.calls}", "object": "chat.completion", "created": 1,
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "echo: " + text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake():
    FakeOpenAI.calls = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def inner_env(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(PLUGIN_DIR) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-python-recording-secret")
    for k in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(k, raising=False)


def run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "deja_pytest", "-p", "no:cacheprovider", "-s",
                                         "--deja-bin", DEJA_BIN, *args, timeout=120)


def test_record_then_replay_with_the_upstream_stopped(pytester, fake, inner_env, monkeypatch):
    pytester.makepyfile(test_inner=INNER)
    cassette = pytester.path / "cassette.json"

    recorded = run(pytester, "--deja-cassette", str(cassette), "--deja-record",
                   "--deja-upstream", fake.url)
    recorded.assert_outcomes(passed=2)
    recorded.stdout.fnmatch_lines(["*deja: record*cassette.json at http://127.0.0.1:*",
                                   "*CACHE=refresh*", "*MODE=record*"])
    assert FakeOpenAI.calls == 1
    text = cassette.read_text()
    assert "sk-python-recording-secret" not in text
    assert "authorization" not in text.lower()
    assert len(json.loads(text)["records"]) == 1

    fake.shutdown()
    # Replay: the default mode; no upstream and no API key needed.
    monkeypatch.delenv("OPENAI_API_KEY")
    replayed = run(pytester, "--deja-cassette", str(cassette))
    replayed.assert_outcomes(passed=2)
    replayed.stdout.fnmatch_lines(["*CACHE=hit*", "*MODE=replay*"])

    # The cassette named in the ini file (relative to it), and a request that was not recorded.
    pytester.makeini("[pytest]\ndeja_cassette = cassette.json\n")
    pytester.makepyfile(test_new=INNER_NEW_REQUEST)
    result = run(pytester, "test_new.py")
    result.assert_outcomes(passed=1)
    assert FakeOpenAI.calls == 1


def test_used_log_and_record_missing(pytester, fake, inner_env):
    pytester.makepyfile(test_inner=INNER)
    cassette = pytester.path / "cassette.json"
    used = pytester.path / "used.log"
    first = run(pytester, "--deja-cassette", str(cassette), "--deja-mode", "record-missing",
                "--deja-upstream", fake.url, "--deja-used-log", str(used))
    first.assert_outcomes(passed=2)
    first.stdout.fnmatch_lines(["*CACHE=miss*"])
    second = run(pytester, "--deja-cassette", str(cassette), "--deja-mode", "record-missing",
                 "--deja-upstream", fake.url)
    second.stdout.fnmatch_lines(["*CACHE=hit*"])
    assert FakeOpenAI.calls == 1
    keys = used.read_text().split()
    assert keys == [json.loads(cassette.read_text())["records"][0]["key"]]


def test_replay_of_a_missing_cassette_is_a_usage_error(pytester, inner_env):
    pytester.makepyfile(test_inner=INNER)
    result = run(pytester, "--deja-cassette", str(pytester.path / "nope.json"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*nope.json does not exist*"])


def test_without_a_cassette_the_plugin_does_nothing(pytester, inner_env):
    pytester.makepyfile(test_inner='''
import os

def test_untouched():
    assert "OPENAI_BASE_URL" not in os.environ

def test_fixture_skips(deja):
    pass
''')
    result = run(pytester)
    result.assert_outcomes(passed=1, skipped=1)
