"""Checks of the workspace's publishable crates that `cargo publish --dry-run` does not make.

Run by scripts/check-crates.sh (which also runs the dry run); stdlib only.

  check_crates.py order                 the crates to publish, in order: `NAME VERSION` lines
  check_crates.py manifest              crates.io metadata, publish order and the MSRV
  check_crates.py package CRATE_FILE... each packaged crate reads no file outside itself

`manifest` reads `cargo metadata` and fails when:
- a publishable member (one without `publish = false`) is missing from PUBLISH_ORDER, or a
  crate there depends (normal or build dependency) on one listed after it, or a dependency on a
  workspace crate has no version (crates.io would refuse it);
- a publishable crate lacks a description, license, repository, documentation, readme, or has
  no keyword or category, more than five of either, or a keyword crates.io refuses;
- the workspace does not declare one MSRV (`rust-version`) inherited by every member, or a
  dependency, any of them, in Cargo.lock declares a higher `rust-version` than that MSRV, or a
  README (the workspace's, each crate's) names another MSRV.

`package` opens each `.crate` (a gzipped tar) and fails when a file it holds includes
(`include_str!`, `include_bytes!`, `include!`, `#[path]`) a file the package does not hold, or
builds a path from `CARGO_MANIFEST_DIR` that leaves the package.
"""

from __future__ import annotations

import json
import posixpath
import re
import subprocess
import sys
import tarfile
from typing import Any

# A JSON object of `cargo metadata`.
Json = dict[str, Any]

# The crates crates.io gets, in the order they must be published (each after what it needs).
PUBLISH_ORDER = ["amikeeper", "amikeeper-aws", "amikeeper-cli"]

REQUIRED_FIELDS = ["description", "license", "repository", "documentation", "readme"]
# crates.io's rule for a keyword: ASCII, starts with a letter, then letters, digits, `_`, `-`,
# `+`; at most 20 characters.
KEYWORD = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]{0,19}$")

INCLUDE = re.compile(r'\b(include_str|include_bytes|include)!\s*\(\s*"([^"]+)"\s*\)')
PATH_ATTR = re.compile(r'#\[path\s*=\s*"([^"]+)"\]')
# The READMEs that state the MSRV ("Rust 1.94.1 or newer", "minimum supported Rust version is
# 1.94.1"), and how they say it.
MSRV_DOCS = ["README.md", "crates/amikeeper/README.md", "crates/amikeeper-aws/README.md", "crates/amikeeper-cli/README.md"]
MSRV_TEXT = re.compile(r"(?:Rust|Rust version is) (\d+\.\d+(?:\.\d+)?)")

# A line that builds a path from the package's directory and goes up from it.
PARENT = re.compile(r'\.\./|"\.\."|/\.\."')


def version_tuple(text: str) -> tuple[int, ...]:
    """`1.94.1` as (1, 94, 1), `1.88` as (1, 88, 0)."""
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def metadata() -> Json:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: Json = json.loads(out)
    return result


def check_manifest() -> list[str]:
    meta = metadata()
    members = set(meta["workspace_members"])
    packages = {package["id"]: package for package in meta["packages"]}
    workspace = [packages[member] for member in members]
    names = {package["name"] for package in workspace}
    errors: list[str] = []

    publishable = sorted(p["name"] for p in workspace if p.get("publish") != [])
    if sorted(PUBLISH_ORDER) != publishable:
        errors.append(
            f"the publishable members are {publishable}; PUBLISH_ORDER in scripts/check_crates.py "
            f"lists {PUBLISH_ORDER} (give new crates `publish = false` or add them in order)"
        )

    by_name = {p["name"]: p for p in workspace}
    for index, name in enumerate(PUBLISH_ORDER):
        package = by_name.get(name)
        if package is None:
            continue
        for dep in package["dependencies"]:
            if dep["name"] not in names:
                continue
            if dep.get("kind") in (None, "build"):
                if dep["name"] not in PUBLISH_ORDER[:index]:
                    errors.append(f"{name} depends on {dep['name']}, which is not published before it")
                if dep.get("req") in (None, "*"):
                    errors.append(f"{name}'s dependency on {dep['name']} has no version")
        for field in REQUIRED_FIELDS:
            if not package.get(field):
                errors.append(f"{name} has no `{field}`")
        for field in ("keywords", "categories"):
            values = package.get(field) or []
            if not 1 <= len(values) <= 5:
                errors.append(f"{name} has {len(values)} {field}; crates.io takes 1 to 5")
        for keyword in package.get("keywords") or []:
            if not KEYWORD.match(keyword):
                errors.append(f"{name}'s keyword {keyword!r} is not one crates.io accepts")

    errors += check_msrv(meta, workspace, packages)
    return errors


def check_msrv(meta: Json, workspace: list[Json], packages: dict[str, Json]) -> list[str]:
    errors: list[str] = []
    declared = {p["name"]: p.get("rust_version") for p in workspace}
    msrvs = set(declared.values())
    if len(msrvs) != 1 or None in msrvs:
        return [f"every member must inherit the workspace's rust-version; they declare {declared}"]
    msrv = str(next(iter(msrvs)))
    # Every package Cargo.lock resolves to, whichever member, target or feature needs it.
    needed = [
        (version_tuple(p["rust_version"]), p["rust_version"], f"{p['name']} {p['version']}")
        for p in packages.values()
        if p.get("rust_version") and p["id"] not in meta["workspace_members"]
    ]
    highest = max(needed)
    if highest[0] > version_tuple(msrv):
        errors.append(
            f"the workspace's rust-version is {msrv}, but {highest[2]} needs {highest[1]}: "
            "raise rust-version in Cargo.toml (and the MSRV in README.md and CHANGELOG.md)"
        )
    for doc in MSRV_DOCS:
        with open(doc) as file:
            stated = set(MSRV_TEXT.findall(file.read()))
        if not stated:
            errors.append(f"{doc} does not state the MSRV ({msrv})")
        elif stated != {msrv}:
            errors.append(f"{doc} states the MSRV as {sorted(stated)}; the workspace's rust-version is {msrv}")
    print(f"check-crates: MSRV {msrv}; the highest a dependency declares: {highest[1]} ({highest[2]})", file=sys.stderr)
    return errors


def check_package(path: str) -> list[str]:
    errors: list[str] = []
    with tarfile.open(path, "r:gz") as archive:
        members = {m.name: m for m in archive.getmembers() if m.isfile()}
        root = next(iter(members)).split("/", 1)[0]
        for name, member in members.items():
            if not name.endswith(".rs"):
                continue
            file = archive.extractfile(member)
            assert file is not None, name
            text = file.read().decode("utf-8", "replace")
            here = posixpath.dirname(name)
            included = [m.group(2) for m in INCLUDE.finditer(text)] + PATH_ATTR.findall(text)
            for relative in included:
                target = posixpath.normpath(posixpath.join(here, relative))
                if target not in members:
                    errors.append(f"{name} includes {relative}, which {posixpath.basename(path)} does not hold")
            for line in text.splitlines():
                if "CARGO_MANIFEST_DIR" in line and PARENT.search(line):
                    errors.append(f"{name} reads outside the package: {line.strip()}")
        if f"{root}/LICENSE" not in members or f"{root}/README.md" not in members:
            errors.append(f"{posixpath.basename(path)} lacks its LICENSE or README.md")
    if not errors:
        print(f"check-crates: {posixpath.basename(path)}: {len(members)} files, none read from outside", file=sys.stderr)
    return errors


def print_order() -> list[str]:
    versions = {p["name"]: p["version"] for p in metadata()["packages"] if p["source"] is None}
    for name in PUBLISH_ORDER:
        print(name, versions[name])
    return []


def main(argv: list[str]) -> int:
    if argv[:1] == ["order"]:
        errors = print_order()
    elif argv[:1] == ["manifest"]:
        errors = check_manifest()
    elif argv[:1] == ["package"] and len(argv) > 1:
        errors = [error for path in argv[1:] for error in check_package(path)]
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for error in errors:
        print(f"check-crates: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
