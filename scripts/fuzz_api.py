"""Fuzz the REST API from its own OpenAPI document with schemathesis, against a real daemon.

Starts `gsmgw run --simulate 2` with a config in a temporary directory (web.listen on a free
127.0.0.1 port), creates an admin API key with `gsmgw apikey create`, waits for /health to pass,
and runs `schemathesis run` on /api/v1/openapi.json. Fails on any 5xx or any response that does not
match the document. `make fuzz` runs it; so does CI, before `make test`.

    .venv/bin/python scripts/fuzz_api.py [--max-examples 30] [--max-time 90]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "bench"))
from _common import free_port, stop_process  # the benches' child-process helpers

CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
    "response_schema_conformance", "negative_data_rejection", "missing_required_header", "unsupported_method",
    "allow_header_conformance", "ignored_auth",
])
# revoking keys by id would revoke the fuzzer's own key and end the run; tests/test_api_auth.py covers it
EXCLUDED_OPERATIONS = ["revoke_key"]


def wait_healthy(base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/api/v1/health", timeout=2) as response:
                body = json.loads(response.read())
                if body["status"] == "pass":
                    return
                last = json.dumps(body)
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise SystemExit(f"the daemon did not become healthy in {timeout:g} s: {last}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=30)
    parser.add_argument("--max-time", type=int, default=90, help="seconds for the schemathesis run")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gsmgw-fuzz-") as tmp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = Path(tmp) / "gsmgw.toml"
        config.write_text(f'[gateway]\ndata_dir = "{tmp}"\n\n[web]\nlisten = "127.0.0.1:{port}"\n'
                          # the fuzzer sends wrong keys on purpose; held off, it would test nothing else
                          'auth_failures_per_minute = 0\n\n'
                          "[simulator]\nreport_delay_s = 0.2\n")
        gsmgw = [str(BIN / "python"), "-m", "gateway.cli"]
        created = subprocess.run([*gsmgw, "apikey", "create", "--config", str(config), "--name", "fuzz",
                                  "--scopes", "send,read,admin", "--json"],
                                 cwd=ROOT, capture_output=True, text=True, check=True)
        token = json.loads(created.stdout)["token"]
        log = open(Path(tmp) / "daemon.log", "w")
        daemon = subprocess.Popen([*gsmgw, "run", "--simulate", "2", "--config", str(config)],
                                  cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(base, 45)
            # one worker: on Python 3.11 two threads parsing source with `ast` at once (hypothesis
            # describes its filters so) can fail with a SystemError of the interpreter's, gh-106905
            command = [str(BIN / "schemathesis"), "run", f"{base}/api/v1/openapi.json",
                       "--checks", CHECKS, "--max-examples", str(args.max_examples),
                       "--max-time", str(args.max_time), "--phases", "examples,coverage,fuzzing",
                       "--header", f"Authorization: Bearer {token}", "--workers", "1",
                       "--request-timeout", "10", "--no-color", "--generation-database", "none",
                       "--suppress-health-check", "all", "--generation-with-security-parameters", "false"]
            for operation in EXCLUDED_OPERATIONS:
                command += ["--exclude-operation-id", operation]
            if args.seed is not None:
                command += ["--seed", str(args.seed)]
            print("$", " ".join(c if "Bearer" not in c else "Authorization: Bearer ***" for c in command), flush=True)
            code = subprocess.call(command, cwd=tmp)
        finally:
            stop_process(daemon, signal.SIGINT, 20)
            log.close()
            if os.environ.get("CI") or daemon.returncode not in (0, -signal.SIGINT):
                tail = (Path(tmp) / "daemon.log").read_text().splitlines()[-40:]
                errors = [line for line in tail if "ERROR" in line or "Traceback" in line]
                if errors:
                    print("daemon log (errors):", *errors, sep="\n", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
