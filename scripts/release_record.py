"""Writes the record of a release's artifacts: SHA256SUMS in the artifacts' directory, and a
Markdown page (docs/RELEASE-ARTIFACTS.md) with each artifact's kind, tags, size and checksum.

  release_record.py DIR VERSION TAG COMMIT [RECORD]

Without RECORD the page goes to stdout (scripts/release.sh --dry-run). Run by scripts/release.sh;
stdlib only.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from datetime import datetime, timezone

SUMS = "SHA256SUMS"
NOTES = "RELEASE-ARTIFACTS.md"


def describe(name: str) -> tuple[str, str]:
    """The kind of an artifact and its tags (platform, architecture), from its file name."""
    if name.endswith(".whl"):
        # {distribution}-{version}-{python tag}-{abi tag}-{platform tag}.whl (PEP 427)
        python, abi, platform = name[: -len(".whl")].split("-")[-3:]
        return "Python wheel", f"`{python}-{abi}-{platform}`"
    if name.endswith(".tar.gz"):
        return "Python sdist", "source"
    if name.endswith(".crate"):
        return "Rust crate (crates.io)", "source"
    if name.endswith(".zip"):
        arch = re.search(r"(x86_64|arm64)", name)
        return "Lambda layer (`python/`)", f"`{arch.group(1) if arch else '?'}`, Python 3.9+"
    triple = re.search(r"[a-z0-9_]+-unknown-linux-musl", name)
    if triple:
        return "static `amikeeper` binary", f"`{triple.group(0)}`"
    return "other", ""


def human(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    scaled = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        scaled /= 1024
        if scaled < 1024 or unit == "GiB":
            break
    return f"{scaled:.1f} {unit}"


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def rustc() -> str:
    return subprocess.run(["rustc", "--version"], capture_output=True, text=True, check=True).stdout.strip()


def main(argv: list[str]) -> int:
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    directory, version, tag, commit = argv[:4]
    names = sorted(
        name
        for name in os.listdir(directory)
        if name not in (SUMS, NOTES) and os.path.isfile(os.path.join(directory, name))
    )
    rows = []
    with open(os.path.join(directory, SUMS), "w") as sums:
        for name in names:
            path = os.path.join(directory, name)
            digest = sha256(path)
            size = os.path.getsize(path)
            sums.write(f"{digest}  {name}\n")
            kind, tags = describe(name)
            rows.append(f"| `{name}` | {kind} | {tags} | {human(size)} ({size} bytes) | `{digest}` |")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = "\n".join(
        [
            "# Release artifacts",
            "",
            f"What `scripts/release.sh` built for amikeeper {version} (tag `{tag}`) from commit",
            f"`{commit}` on {when}, with `{rustc()}`.",
            "The release workflow (`.github/workflows/release.yml`) attaches these files and",
            f"`SHA256SUMS` to the GitHub release `{tag}`; `sha256sum -c SHA256SUMS` checks a download.",
            "",
            "| artifact | kind | tags | size | sha256 |",
            "|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    if len(argv) == 5:
        with open(argv[4], "w") as record:
            record.write(page)
        with open(os.path.join(directory, NOTES), "w") as notes:
            notes.write(page)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
