"""Checks a wheel or the sdist that scripts/build-wheels.sh built (run by it; exits non-zero,
saying why, when a check fails).

A wheel, ``--arch x86_64|aarch64``:

- its file name and its ``WHEEL`` tags are ``cp39-abi3-manylinux2014_<arch>`` and
  ``cp39-abi3-manylinux_2_17_<arch>`` (PEP 599 and PEP 600 names of glibc 2.17; abi3 from
  CPython 3.9 on), and nothing else;
- its extension module ``amikeeper/_amikeeper.abi3.so`` is a 64-bit ELF shared object for that
  machine (``EM_X86_64`` or ``EM_AARCH64``), which needs no glibc symbol version newer than
  ``GLIBC_2.17`` (read from its ``.gnu.version_r`` with pyelftools);
- ``auditwheel show`` (the PyPA's reference for the manylinux policies, which also checks the
  libraries it links) finds it consistent with ``manylinux_2_17_<arch>``.

The sdist, ``--sdist``: a ``.tar.gz`` with ``pyproject.toml`` and ``Cargo.lock`` at its top,
and the Rust crates the extension module is built from, so that ``pip install`` of it builds.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import zipfile
from io import BytesIO
from pathlib import Path
from typing import NoReturn

from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

#: glibc 2.17: manylinux2014, AWS Lambda's oldest runtime (Amazon Linux 2) has 2.26.
MAX_GLIBC = (2, 17)
#: The ELF ``e_machine`` of each architecture.
MACHINES = {"x86_64": "EM_X86_64", "aarch64": "EM_AARCH64"}
EXTENSION = "amikeeper/_amikeeper.abi3.so"


def fail(message: str) -> NoReturn:
    """Prints ``message`` and exits with 1."""
    print(f"check_wheel: {message}", file=sys.stderr)
    sys.exit(1)


def glibc_versions(elf: ELFFile) -> list[tuple[int, ...]]:
    """The ``GLIBC_x.y`` versions the ELF's symbols need."""
    needed = []
    for section in elf.iter_sections():
        if isinstance(section, GNUVerNeedSection):
            for _, auxiliaries in section.iter_versions():
                for auxiliary in auxiliaries:
                    match = re.fullmatch(r"GLIBC_(\d+(?:\.\d+)+)", auxiliary.name)
                    if match:
                        needed.append(tuple(int(part) for part in match.group(1).split(".")))
    return needed


def check_wheel(path: Path, arch: str) -> None:
    """The checks of a wheel for ``arch`` (see the module's doc)."""
    platforms = {f"manylinux2014_{arch}", f"manylinux_2_17_{arch}"}
    name = path.name
    match = re.fullmatch(r"amikeeper-[^-]+-cp39-abi3-(?P<platforms>[^-]+)\.whl", name)
    if not match or set(match.group("platforms").split(".")) != platforms:
        fail(f"{name} is not tagged cp39-abi3-{'.'.join(sorted(platforms))}")
    with zipfile.ZipFile(path) as wheel:
        metadata = [n for n in wheel.namelist() if n.endswith(".dist-info/WHEEL")]
        if len(metadata) != 1:
            fail(f"{name} has {len(metadata)} .dist-info/WHEEL files")
        tags = {line.split(":", 1)[1].strip() for line in wheel.read(metadata[0]).decode().splitlines() if line.startswith("Tag:")}
        if tags != {f"cp39-abi3-{p}" for p in platforms}:
            fail(f"{name}'s WHEEL tags are {sorted(tags)}")
        if EXTENSION not in wheel.namelist():
            fail(f"{name} has no {EXTENSION}")
        elf = ELFFile(BytesIO(wheel.read(EXTENSION)))
        if elf.elfclass != 64 or elf["e_type"] != "ET_DYN" or elf["e_machine"] != MACHINES[arch]:
            fail(f"{EXTENSION} is a {elf.elfclass}-bit {elf['e_type']} for {elf['e_machine']}, not a shared object for {MACHINES[arch]}")
        versions = glibc_versions(elf)
        if not versions:
            fail(f"{EXTENSION} needs no GLIBC_ symbol version: not linked against glibc?")
        newest = max(versions)
        if newest > MAX_GLIBC:
            fail(f"{EXTENSION} needs GLIBC_{'.'.join(map(str, newest))}, newer than manylinux2014's 2.17")
    shown = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", str(path)], capture_output=True, text=True, check=False
    )
    consistent = re.search(r"consistent\s+with\s+the\s+following\s+platform\s+tag:\s+\"?([\w.]+)\"?", shown.stdout)
    if shown.returncode != 0 or not consistent or consistent.group(1) != f"manylinux_2_17_{arch}":
        fail(f"auditwheel show {name} does not find manylinux_2_17_{arch}:\n{shown.stdout}{shown.stderr}")
    print(f"check_wheel: {name}: {MACHINES[arch]}, newest glibc symbol GLIBC_{'.'.join(map(str, newest))}, auditwheel: {consistent.group(1)}")


def check_sdist(path: Path) -> None:
    """The checks of the sdist (see the module's doc)."""
    match = re.fullmatch(r"amikeeper-(?P<version>[^-]+)\.tar\.gz", path.name)
    if not match:
        fail(f"{path.name} is not named amikeeper-<version>.tar.gz")
    top = f"amikeeper-{match.group('version')}"
    with tarfile.open(path) as sdist:
        names = set(sdist.getnames())
    wanted = [
        "pyproject.toml",
        "Cargo.lock",
        "PKG-INFO",
        "python/Cargo.toml",
        "py_src/amikeeper/__init__.py",
        "crates/amikeeper/Cargo.toml",
        "crates/amikeeper-aws/Cargo.toml",
    ]
    missing = [w for w in wanted if f"{top}/{w}" not in names]
    if missing:
        fail(f"{path.name} lacks {missing}")
    print(f"check_wheel: {path.name}: {len(names)} files, with {', '.join(wanted)}")


def main() -> None:
    """Checks the file named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--arch", choices=sorted(MACHINES))
    kind.add_argument("--sdist", action="store_true")
    parser.add_argument("path", type=Path)
    arguments = parser.parse_args()
    if arguments.sdist:
        check_sdist(arguments.path)
    else:
        check_wheel(arguments.path, arguments.arch)


if __name__ == "__main__":
    main()
