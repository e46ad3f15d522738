"""The installed wheel is what AWS Lambda's Amazon Linux can load: tagged ``cp39-abi3`` and
``manylinux_2_17_x86_64`` (manylinux2014), with an extension module that asks glibc for nothing
newer than 2.17 and links no libpython."""

from __future__ import annotations

import importlib.metadata
import re
import struct
from pathlib import Path

import amikeeper._amikeeper

#: ``SHT_GNU_verneed``: the section listing the symbol versions a shared object needs.
VERSION_NEEDS = 0x6FFFFFFE
#: ``SHT_DYNAMIC``: the section listing, among others, the shared libraries it needs.
DYNAMIC = 6
DT_NEEDED = 1


def sections(elf: bytes) -> list[tuple[int, int, int, int, int]]:
    """(type, offset, size, link, info) of each section of a little-endian ELF64 file."""
    assert elf[:4] == b"\x7fELF" and elf[4] == 2 and elf[5] == 1, "a little-endian ELF64 file"
    offset, = struct.unpack_from("<Q", elf, 0x28)
    entry_size, count = struct.unpack_from("<HH", elf, 0x3A)
    table = []
    for index in range(count):
        _, kind, _, _, start, size, link, info, _, _ = struct.unpack_from("<IIQQQQIIQQ", elf, offset + index * entry_size)
        table.append((kind, start, size, link, info))
    return table


def c_string(elf: bytes, at: int) -> str:
    return elf[at : elf.index(b"\0", at)].decode()


def needs(elf: bytes) -> tuple[dict[str, set[str]], list[str]]:
    """The symbol versions needed, per library, and the libraries needed."""
    table = sections(elf)
    versions: dict[str, set[str]] = {}
    libraries: list[str] = []
    for kind, start, size, link, info in table:
        strings = table[link][1]
        if kind == VERSION_NEEDS:
            entry = start
            for _ in range(info):
                _, aux_count, file_name, aux, following = struct.unpack_from("<HHIII", elf, entry)
                names = versions.setdefault(c_string(elf, strings + file_name), set())
                at = entry + aux
                for _ in range(aux_count):
                    _, _, _, name, next_aux = struct.unpack_from("<IHHII", elf, at)
                    names.add(c_string(elf, strings + name))
                    at += next_aux
                entry += following
        elif kind == DYNAMIC:
            for at in range(start, start + size, 16):
                tag, value = struct.unpack_from("<qQ", elf, at)
                if tag == DT_NEEDED:
                    libraries.append(c_string(elf, strings + value))
    return versions, libraries


def test_the_wheel_is_tagged_for_lambda() -> None:
    wheel = importlib.metadata.distribution("amikeeper").read_text("WHEEL") or ""
    tags = {line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")}
    assert tags == {"cp39-abi3-manylinux_2_17_x86_64", "cp39-abi3-manylinux2014_x86_64"}, wheel
    assert "Root-Is-Purelib: false" in wheel


def test_the_extension_needs_glibc_2_17_at_most_and_no_libpython() -> None:
    extension = Path(amikeeper._amikeeper.__file__ or "")
    assert extension.name == "_amikeeper.abi3.so", extension
    versions, libraries = needs(extension.read_bytes())
    glibc = {
        tuple(int(part) for part in match.group(1).split("."))
        for names in versions.values()
        for name in names
        if (match := re.fullmatch(r"GLIBC_([\d.]+)", name))
    }
    assert glibc, versions
    assert max(glibc) <= (2, 17), sorted(glibc)
    assert not [library for library in libraries if library.startswith("libpython")], libraries
    assert "libc.so.6" in libraries, libraries
