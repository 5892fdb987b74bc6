"""Read package archives (npm .tgz, sdist .tar.gz/.zip, .deb) into memory without unpacking to disk.

Members larger than MAX_READ, or that `want` declines (paths the filters reject
anyway), are listed with their size but not read, so they are counted without
paying for them.
"""
from __future__ import annotations

import gzip
import posixpath
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass, field
from typing import Callable

MAX_READ = 1_000_000
Want = Callable[[str], bool]


def _all(_: str) -> bool:
    return True

# Where Debian binary packages keep source code and docs; everything else in a .deb
# (binaries, man pages, maintainer data) is not corpus material.
DEB_SOURCE_ROOTS = ("usr/lib/python3/dist-packages/", "usr/share/nodejs/", "usr/lib/nodejs/",
                    "usr/share/javascript/", "usr/share/doc/")
DEB_DOC_GZ = (".md.gz", ".rst.gz", ".txt.gz", ".markdown.gz")


class ArchiveError(Exception):
    """The archive is unreadable or has an unexpected layout."""


@dataclass
class Member:
    path: str  # relative to the package root, '/'-separated
    size: int
    data: bytes | None  # None when larger than MAX_READ


@dataclass
class Archive:
    members: list[Member] = field(default_factory=list)
    skipped_outside: int = 0  # .deb members outside the source roots

    def get(self, path: str) -> Member | None:
        for m in self.members:
            if m.path == path:
                return m
        return None

    def top_level(self, names: tuple[str, ...]) -> Member | None:
        """First top-level member whose lower-cased name is in names (LICENSE, LICENSE.md, ...)."""
        for m in self.members:
            if "/" not in m.path and m.path.lower() in names:
                return m
        return None


def _strip_root(name: str) -> str | None:
    name = name.lstrip("./")
    parts = name.split("/", 1)
    return parts[1] if len(parts) == 2 and parts[1] else None


def _safe(path: str) -> bool:
    return not path.startswith("/") and ".." not in path.split("/")


def read_tar(path: str, want: Want = _all) -> Archive:
    """npm and sdist tarballs: one top directory ('package/', 'name-1.0/') that we strip."""
    out = Archive()
    try:
        with tarfile.open(path, "r:*") as tf:
            for ti in tf:
                if not ti.isreg():
                    continue
                rel = _strip_root(ti.name)
                if rel is None or not _safe(rel):
                    continue
                data = tf.extractfile(ti).read() if ti.size <= MAX_READ and want(rel) else None
                out.members.append(Member(rel, ti.size, data))
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ArchiveError(f"{path}: {e}") from e
    return out


def read_zip(path: str, want: Want = _all) -> Archive:
    out = Archive()
    try:
        with zipfile.ZipFile(path) as zf:
            for zi in zf.infolist():
                if zi.is_dir():
                    continue
                rel = _strip_root(zi.filename)
                if rel is None or not _safe(rel):
                    continue
                data = zf.read(zi) if zi.file_size <= MAX_READ and want(rel) else None
                out.members.append(Member(rel, zi.file_size, data))
    except (zipfile.BadZipFile, OSError) as e:
        raise ArchiveError(f"{path}: {e}") from e
    return out


def read_deb(path: str, want: Want = _all) -> Archive:
    """The data tarball of a .deb, streamed from dpkg-deb; only source roots are kept.

    Compressed docs (README.md.gz) are inflated so the prose is usable.
    """
    out = Archive()
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
            for ti in tf:
                if not ti.isreg():
                    continue
                rel = ti.name.lstrip("./")
                if not _safe(rel):
                    continue
                if not rel.startswith(DEB_SOURCE_ROOTS):
                    out.skipped_outside += 1
                    continue
                is_doc_gz = rel.startswith("usr/share/doc/") and rel.endswith(DEB_DOC_GZ)
                wanted = want(rel[:-3] if is_doc_gz else rel)
                data = tf.extractfile(ti).read() if ti.size <= MAX_READ and wanted else None
                if is_doc_gz and rel.endswith(DEB_DOC_GZ) and data is not None:
                    try:
                        data = gzip.decompress(data)
                    except (OSError, EOFError):
                        continue
                    rel = rel[:-3]
                    if len(data) > MAX_READ:
                        out.members.append(Member(rel, len(data), None))
                        continue
                out.members.append(Member(rel, len(data) if data is not None else ti.size, data))
    except (tarfile.TarError, OSError) as e:
        raise ArchiveError(f"{path}: {e}") from e
    finally:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.wait() != 0:
            raise ArchiveError(f"dpkg-deb failed on {path}: {err.strip()[-300:]}")
    return out


def read_archive(path: str, want: Want = _all) -> Archive:
    if path.endswith(".deb"):
        return read_deb(path, want)
    if path.endswith(".zip"):
        return read_zip(path, want)
    return read_tar(path, want)


def deb_copyright(archive: Archive, package: str) -> Member | None:
    """usr/share/doc/PKG/copyright; some packages keep it under a shared doc dir (symlinked)."""
    m = archive.get(f"usr/share/doc/{package}/copyright")
    if m is not None:
        return m
    for mem in archive.members:
        if mem.path.startswith("usr/share/doc/") and posixpath.basename(mem.path) == "copyright":
            return mem
    return None
