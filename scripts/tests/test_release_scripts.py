"""Tests of the release scripts' own logic (scripts/check_crates.py, scripts/release_record.py)
on made-up crates and artifacts; scripts/test.sh runs them, and runs the scripts themselves on
the real workspace."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import check_crates  # noqa: E402
import release_record  # noqa: E402


def make_crate(directory: Path, files: dict[str, str]) -> str:
    path = directory / "demo-0.1.0.crate"
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"demo-0.1.0/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return str(path)


BASE = {"README.md": "# demo\n", "LICENSE": "Apache-2.0\n", "src/fixture.json": "{}"}


def test_a_self_contained_package_passes(tmp_path: Path) -> None:
    crate = make_crate(
        tmp_path,
        BASE
        | {
            "src/lib.rs": 'const F: &str = include_str!("fixture.json");\n'
            'fn p() -> String { format!("{}/src/fixture.json", env!("CARGO_MANIFEST_DIR")) }\n',
        },
    )
    assert check_crates.check_package(crate) == []


def test_an_include_from_outside_the_package_fails(tmp_path: Path) -> None:
    crate = make_crate(tmp_path, BASE | {"src/lib.rs": 'const R: &str = include_str!("../../../README.md");\n'})
    (error,) = check_crates.check_package(crate)
    assert "includes ../../../README.md" in error


def test_a_path_up_from_the_manifest_dir_fails(tmp_path: Path) -> None:
    crate = make_crate(
        tmp_path,
        BASE | {"src/lib.rs": 'fn root() -> std::path::PathBuf { std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..") }\n'},
    )
    (error,) = check_crates.check_package(crate)
    assert "reads outside the package" in error


def test_a_package_without_its_license_fails(tmp_path: Path) -> None:
    crate = make_crate(tmp_path, {"README.md": "# demo\n", "src/lib.rs": ""})
    assert check_crates.check_package(crate) == ["demo-0.1.0.crate lacks its LICENSE or README.md"]


def test_versions_compare_by_number() -> None:
    assert check_crates.version_tuple("1.94.1") > check_crates.version_tuple("1.94")
    assert check_crates.version_tuple("1.100") > check_crates.version_tuple("1.94.1")


def test_the_msrv_is_found_as_the_readmes_state_it() -> None:
    text = "needs Rust 1.94.1 or newer. The minimum supported Rust version is 1.94.1 (the SDK's)."
    assert set(check_crates.MSRV_TEXT.findall(text)) == {"1.94.1"}


def test_keywords_follow_crates_ios_rule() -> None:
    assert check_crates.KEYWORD.match("aws-sdk")
    assert not check_crates.KEYWORD.match("1aws")
    assert not check_crates.KEYWORD.match("a" * 21)


def test_artifacts_are_described_by_their_names() -> None:
    wheel = "amikeeper-0.1.0-cp39-abi3-manylinux2014_aarch64.manylinux_2_17_aarch64.whl"
    assert release_record.describe(wheel) == ("Python wheel", "`cp39-abi3-manylinux2014_aarch64.manylinux_2_17_aarch64`")
    assert release_record.describe("amikeeper-0.1.0.tar.gz") == ("Python sdist", "source")
    assert release_record.describe("amikeeper-aws-0.1.0.crate")[0] == "Rust crate (crates.io)"
    assert release_record.describe("amikeeper-python-arm64.zip")[1].startswith("`arm64`")
    assert release_record.describe("amikeeper-x86_64-unknown-linux-musl") == (
        "static `amikeeper` binary",
        "`x86_64-unknown-linux-musl`",
    )


def test_sizes_are_human() -> None:
    assert release_record.human(512) == "512 B"
    assert release_record.human(310087) == "302.8 KiB"
    assert release_record.human(20 * 1024 * 1024) == "20.0 MiB"


def test_the_record_lists_every_artifact_with_its_checksum(tmp_path: Path) -> None:
    (tmp_path / "amikeeper-x86_64-unknown-linux-musl").write_bytes(b"\x7fELF")
    (tmp_path / "amikeeper-0.1.0.crate").write_bytes(b"crate")
    record = tmp_path / "RECORD.md"
    assert release_record.main([str(tmp_path), "0.1.0", "v0.1.0", "abc123", str(record)]) == 0
    sums = (tmp_path / "SHA256SUMS").read_text().splitlines()
    # hashlib.sha256(b"crate"), as sha256sum prints it
    assert sums[0] == "f5fe331d2367a7a67ee20bd579c77b929ae49439d8b0d8e9c3b98609797b6b69  amikeeper-0.1.0.crate"
    assert [line.split("  ")[1] for line in sums] == ["amikeeper-0.1.0.crate", "amikeeper-x86_64-unknown-linux-musl"]
    page = record.read_text()
    assert (tmp_path / "RELEASE-ARTIFACTS.md").read_text() == page
    for line in sums:
        digest, name = line.split("  ")
        assert f"| `{name}` |" in page and f"`{digest}`" in page
    assert "tag `v0.1.0`" in page and "`abc123`" in page
