"""Runs every command of the README's console examples, as written, in one shell.

    readme_examples.py README IRTX_BIN SANDBOX

Reads each ```console block of README, takes every `$ ` line (with its `\\` continuations
and here-documents) and runs them in order in one bash, in SANDBOX (where `tests/` of the
repository is linked), with `irtx` being IRTX_BIN. A command passes when it exits 0, or with
the code the README shows right after it (`$ echo $?` and the code). Prints one line per
command and exits 1 if any failed.

What cannot run as written here is named below and nothing else is changed:
- SUBSTITUTE: the placeholder hosts of the examples become loopback addresses (tests never
  reach the network), and the release build is the binary under test;
- BEFORE/AFTER: files and a second gateway the examples take as given (cert-b, its JWK, a
  directory of exports, the next version of a report), and waiting for `irtx serve` to answer.
"""
import json
import os
import pathlib
import re
import signal
import subprocess
import sys

SUBSTITUTE = {
    "cargo build --release && alias irtx=target/release/irtx": 'irtx() { "$IRTX_BIN" "$@"; }',
    "https://gw.cert-b.example": "$CERT_B_URL",
    "https://taxii.sector.example/api1/collections/472c94ae-…/":
        "http://127.0.0.1:9/api1/collections/472c94ae-3113-4e3e-a4dd-a9f4ac7471d4/",
}

# Shell run before the command that starts with the key.
BEFORE = {
    # cert-b: a second gateway, and its public key where cert-a's operator keeps it.
    "irtx peer add --id cert-b": """
        "$IRTX_BIN" init --team-id cert-b --dir ../cert-b --listen auto --domain cert-b.example > ../cert-b.json
        (cd ../cert-b && exec "$IRTX_BIN" serve > serve.log 2>&1) &
        python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["public_jwk"]))' ../cert-b.json > cert-b.jwk
        CERT_B_URL="http://$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listen"])' ../cert-b.json)"
        wait_for "$CERT_B_URL"
    """,
    "irtx ledger verify --export": "irtx identity | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)[\"public_jwk\"]))' > cert-a.jwk",
    "irtx import exports/": """
        mkdir -p exports && cp ../incident.stix.json exports/
        for f in "$SHARED"/reference/samples/pymisp/tests/mispevent_testfiles/event_obj_attr_tag.json; do
            [ -f "$f" ] && cp "$f" exports/
        done
    """,
    "irtx report update incident-v3.json": """
        python3 - <<'PY'
import json
r = json.load(open("tests/data/valid/incident-ransomware-full.json"))
r["version"] = r.get("version", 1) + 1
r["updated_at"] = "2026-12-01T09:00:00Z"
json.dump(r, open("incident-v3.json", "w"))
PY
    """,
    "irtx report submit incident.json": """
        python3 - <<'PY'
import json
r = json.load(open("tests/data/valid/incident-phishing-clear.json"))
r["id"] = "INC-README-TAXII"
json.dump(r, open("incident.json", "w"))
PY
    """,
}

# Shell run after the command.
AFTER = {
    "irtx init --team-id cert-a": "ln -s ../tests cert-a/tests",
    "irtx serve &": 'wait_for "$(cat data/gateway.url 2>/dev/null || true)" data/gateway.url',
}

PRELUDE = r"""
set -u
wait_for() {  # URL [FILE]: until URL/healthz answers (FILE, when given, names the URL)
    for _ in $(seq 1 300); do
        url="${1:-}"
        if [ -n "${2:-}" ] && [ -f "$2" ]; then url="$(cat "$2")"; fi
        if [ -n "$url" ] && python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=1)' "$url" > /dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "no gateway answered at ${1:-?}" >&2
    return 1
}
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null' EXIT
"""


def commands(readme):
    """(line number, command text, expected exit code) of every console example."""
    out = []
    lines = readme.splitlines()
    in_block = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```console"):
            in_block = True
        elif line.startswith("```"):
            in_block = False
        elif in_block and line.startswith("$ "):
            start = i + 1
            text = line[2:]
            while text.endswith("\\") and i + 1 < len(lines):
                i += 1
                text += "\n" + lines[i]
            heredoc = re.search(r"<<'?(\w+)'?", text)
            if heredoc:
                end = heredoc.group(1)
                while i + 1 < len(lines):
                    i += 1
                    text += "\n" + lines[i]
                    if lines[i] == end:
                        break
            if text.strip() == "echo $?":
                # The code shown is what the command before must exit with.
                if out and i + 1 < len(lines) and lines[i + 1].strip().isdigit():
                    n, t, _ = out[-1]
                    out[-1] = (n, t, int(lines[i + 1].strip()))
            else:
                out.append((start, text, 0))
        i += 1
    return out


def main(readme_path, irtx_bin, sandbox):
    readme = pathlib.Path(readme_path).read_text()
    root = pathlib.Path(readme_path).resolve().parent
    sandbox = pathlib.Path(sandbox)
    sandbox.mkdir(parents=True, exist_ok=True)
    if not (sandbox / "tests").exists():
        (sandbox / "tests").symlink_to(root / "tests")
    script = [PRELUDE]
    cmds = commands(readme)
    for n, (line, text, want) in enumerate(cmds):
        run = text
        for k, v in SUBSTITUTE.items():
            run = run.replace(k, v)
        before = next((v for k, v in BEFORE.items() if text.startswith(k)), "")
        after = next((v for k, v in AFTER.items() if text.startswith(k)), "")
        background = run.rstrip().split("#")[0].rstrip().endswith("&")
        script.append(before)
        if background:
            script.append(f"{{ {run.split('#')[0].rstrip()} }} > out.{n} 2>&1\nrc=0")
        elif "<<" in run:
            script.append(f"{run}\nrc=$?")
        else:
            script.append(f"{{ {run}\n}} > out.{n} 2>&1\nrc=$?")
        script.append(f'echo "{n} $rc $PWD"')
        script.append(after)
    (sandbox / "examples.sh").write_text("\n".join(script) + "\n")
    env = dict(os.environ, IRTX_BIN=irtx_bin, SHARED=str(root.parent / "shared"), NO_COLOR="1")
    env.pop("IRTX_GATEWAY", None)
    # Its own process group: every gateway the examples started is stopped with it.
    proc = subprocess.Popen(
        ["bash", "examples.sh"], cwd=sandbox, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    results = {}
    for l in stdout.splitlines():
        parts = l.split(" ", 2)
        if len(parts) == 3 and parts[0].isdigit():
            results[int(parts[0])] = (int(parts[1]), parts[2])
    failed = 0
    for n, (line, text, want) in enumerate(cmds):
        got, cwd = results.get(n, (None, "?"))
        ok = got == want
        failed += not ok
        first = text.splitlines()[0]
        print(f"{'ok  ' if ok else 'FAIL'} README:{line}: exit {got} (want {want}): $ {first}")
        if not ok:
            out = next(pathlib.Path(cwd).glob(f"out.{n}"), None) if cwd != "?" else None
            if out:
                print("      " + out.read_text()[:600].replace("\n", "\n      "))
    if stderr.strip():
        print("stderr of the run:\n" + stderr[-2000:])
    print(json.dumps({"commands": len(cmds), "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
