"""Verifies an event archive offline: ``python -m backend.ops.archive_verify FILE.zip``.

Needs Python alone (no Django, no database, no network), so whoever receives an archive
(a court, an auditor, another office) can check it: every file against the manifest,
every history row against its hash, every row linked to the one before, the chain's
head equal to the event's, and every photo's bytes against its SHA-256.

The row hash is the one ``backend.events.history.content_hash`` computes; a test holds
the two equal over a seeded history."""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile

ROW_FIELDS = (
    "event_id",
    "seq",
    "action",
    "actor_id",
    "actor_role",
    "device_ref",
    "from_state",
    "to_state",
    "note",
    "data",
    "server_at",
    "device_at",
    "prev_hash",
)


def row_hash(row: dict) -> str:
    """The hash of one history row whose times are already in their wire form."""
    content = [
        str(row["event_id"]),
        *(row[name] or "" if name.endswith("_at") else row[name] for name in ROW_FIELDS[1:]),
    ]
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def verify_archive(path: str) -> list[str]:
    """Problems found; empty when the archive is intact."""
    problems: list[str] = []
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if "manifest.json" not in names:
            return ["manifest.json is missing"]
        manifest = json.loads(archive.read("manifest.json"))
        for name, digest in manifest["files"].items():
            if name not in names:
                problems.append(f"{name}: listed in the manifest, missing")
            elif hashlib.sha256(archive.read(name)).hexdigest() != digest:
                problems.append(f"{name}: does not match the manifest")
        for name in sorted(names - set(manifest["files"]) - {"manifest.json"}):
            problems.append(f"{name}: not in the manifest")
        event = json.loads(archive.read("event.json"))
        history = json.loads(archive.read("history.json"))
        previous, expected = "", 1
        for row in history:
            if row["seq"] != expected:
                problems.append(f"history #{row['seq']}: expected sequence {expected}")
            if row["prev_hash"] != previous:
                problems.append(f"history #{row['seq']}: does not link to the row before it")
            if row_hash(row) != row["hash"]:
                problems.append(f"history #{row['seq']}: content does not match its hash")
            previous, expected = row["hash"], row["seq"] + 1
        if previous != event["last_action_hash"]:
            problems.append("history: the chain's last row is not the event's chain head (a row is missing)")
        for photo in json.loads(archive.read("photos.json")):
            if photo["file"] not in names:
                problems.append(f"photo {photo['id']}: its file is missing")
            elif hashlib.sha256(archive.read(photo["file"])).hexdigest() != photo["sha256"]:
                problems.append(f"photo {photo['id']}: its bytes do not match its SHA-256")
    return problems


def main(argv: list[str]) -> int:
    usage = "usage: python -m backend.ops.archive_verify EVENT-ARCHIVE.zip"
    if argv in (["-h"], ["--help"]):
        print(usage)
        print("Checks an event archive offline: every file, history row, link and photo digest.")
        return 0
    if len(argv) != 1:
        print(usage, file=sys.stderr)
        return 2
    problems = verify_archive(argv[0])
    for problem in problems:
        print(f"✗ {problem}")
    if not problems:
        print("✓ 完好 intact: every file, history row, link and photo digest checks")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
