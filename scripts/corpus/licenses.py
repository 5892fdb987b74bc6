"""License detection from package metadata, normalised to SPDX, and the permissive allow-list.

The build never trusts the manifest's license field alone: it reads the license
each package declares (package.json, PKG-INFO, debian/copyright, falling back to
the LICENSE text) and refuses the package unless that is permissive.
"""
from __future__ import annotations

import email.parser
import json
import re

PERMISSIVE = {
    "MIT", "MIT-0", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0", "ISC", "PSF-2.0", "Python-2.0",
    "0BSD", "Unlicense", "CC0-1.0", "Zlib", "BSL-1.0", "BlueOak-1.0.0", "X11", "HPND", "MIT-CMU",
}

# Free-form spellings seen in metadata -> SPDX.
_ALIASES = {
    "mit": "MIT", "mit license": "MIT", "the mit license": "MIT", "expat": "MIT", "mit/expat": "MIT",
    "mit-0": "MIT-0", "mit no attribution": "MIT-0",
    "bsd-2-clause": "BSD-2-Clause", "bsd-2": "BSD-2-Clause", "simplified bsd": "BSD-2-Clause", "freebsd": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause", "bsd-3": "BSD-3-Clause", "new bsd": "BSD-3-Clause", "new bsd license": "BSD-3-Clause",
    "modified bsd": "BSD-3-Clause", "3-clause bsd": "BSD-3-Clause", "bsd 3-clause": "BSD-3-Clause",
    "bsd 3-clause license": "BSD-3-Clause", "revised bsd": "BSD-3-Clause", "2-clause bsd": "BSD-2-Clause",
    "bsd 2-clause": "BSD-2-Clause", "bsd 2-clause license": "BSD-2-Clause",
    "apache-2.0": "Apache-2.0", "apache 2.0": "Apache-2.0", "apache-2": "Apache-2.0", "apache 2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0", "apache license, version 2.0": "Apache-2.0", "apache license version 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0", "apache software license 2.0": "Apache-2.0", "asl 2.0": "Apache-2.0",
    "apache2": "Apache-2.0", "apache": "Apache-2.0",
    "isc": "ISC", "isc license": "ISC", "iscl": "ISC",
    "psf": "PSF-2.0", "psf-2.0": "PSF-2.0", "psf-2": "PSF-2.0", "psfl": "PSF-2.0", "python software foundation license": "PSF-2.0",
    "python-2.0": "Python-2.0", "python": "Python-2.0",
    "0bsd": "0BSD", "unlicense": "Unlicense", "the unlicense": "Unlicense",
    "cc0": "CC0-1.0", "cc0-1.0": "CC0-1.0", "cc0 1.0": "CC0-1.0",
    "zlib": "Zlib", "bsl-1.0": "BSL-1.0", "boost": "BSL-1.0", "blueoak-1.0.0": "BlueOak-1.0.0",
    "x11": "X11", "hpnd": "HPND", "mit-cmu": "MIT-CMU",
    "gpl": "GPL", "lgpl": "LGPL", "mpl-2.0": "MPL-2.0", "mpl 2.0": "MPL-2.0",
}

# Trove classifiers -> SPDX. "BSD License" is resolved from the license text.
_CLASSIFIERS = {
    "MIT License": "MIT", "MIT No Attribution License (MIT-0)": "MIT-0",
    "BSD License": "BSD", "Apache Software License": "Apache-2.0", "ISC License (ISCL)": "ISC",
    "Python Software Foundation License": "PSF-2.0", "The Unlicense (Unlicense)": "Unlicense",
    "Zero-Clause BSD (0BSD)": "0BSD", "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "zlib/libpng License": "Zlib", "Historical Permission Notice and Disclaimer (HPND)": "HPND",
}
_CC0_CLASSIFIER = "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication"


class LicenseUnknown(Exception):
    """No usable license declaration was found."""


def normalize(name: str) -> str | None:
    n = name.strip().strip("()").strip()
    if n in PERMISSIVE:
        return n
    low = re.sub(r"\s+", " ", n.lower()).strip(" .")
    low = re.sub(r" licen[cs]e$", "", low) if low not in _ALIASES else low
    return _ALIASES.get(low) or _ALIASES.get(low + " license") or (n if re.fullmatch(r"[A-Za-z0-9.+-]+", n) else None)


def from_text(text: str) -> str | None:
    """Identify a license from its full text (LICENSE files, License: fields holding text)."""
    t = re.sub(r"\s+", " ", text)
    if "Apache License" in t and "Version 2.0" in t:
        return "Apache-2.0"
    if re.search(r"Permission is hereby granted, free of charge", t):
        return "MIT"
    if "Redistribution and use in source and binary forms" in t:
        if "GNU" in t:
            return None
        return "BSD-3-Clause" if re.search(r"[Nn]either the name|names? of (its|the) contributors", t) else "BSD-2-Clause"
    if re.search(r"Permission to use, copy, modify, and(/or)? distribute this software for any purpose", t):
        return "ISC"
    if "PYTHON SOFTWARE FOUNDATION LICENSE" in t.upper():
        return "PSF-2.0"
    if "This is free and unencumbered software released into the public domain" in t:
        return "Unlicense"
    return None


def evaluate(expr: str) -> tuple[bool, str]:
    """Evaluate an SPDX expression: OR needs one permissive branch, AND needs all.

    Returns (permissive, canonical text). WITH exceptions only widen a license, so
    `X WITH exc` is judged by X.
    """
    tokens = re.findall(r"\(|\)|[^\s()]+", expr)
    pos = 0

    def parse_or() -> tuple[bool, list[str]]:
        nonlocal pos
        ok, names = parse_and()
        while pos < len(tokens) and tokens[pos].upper() == "OR":
            pos += 1
            ok2, n2 = parse_and()
            if ok2 and not ok:
                ok, names = ok2, n2
        return ok, names

    def parse_and() -> tuple[bool, list[str]]:
        nonlocal pos
        ok, names = parse_atom()
        while pos < len(tokens) and tokens[pos].upper() == "AND":
            pos += 1
            ok2, n2 = parse_atom()
            ok, names = ok and ok2, names + n2
        return ok, names

    def parse_atom() -> tuple[bool, list[str]]:
        nonlocal pos
        if pos >= len(tokens):
            raise LicenseUnknown(f"bad license expression {expr!r}")
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            r = parse_or()
            if pos < len(tokens) and tokens[pos] == ")":
                pos += 1
            return r
        if pos < len(tokens) and tokens[pos].upper() == "WITH":
            pos += 2
        spdx = normalize(tok)
        if spdx is None:
            return False, [tok]
        return spdx in PERMISSIVE, [spdx]

    # Multi-word names ("MIT License") are not expressions; try them whole first.
    whole = normalize(expr)
    if whole is not None and not re.search(r"\s(OR|AND|or|and)\s", expr):
        return whole in PERMISSIVE, whole
    ok, names = parse_or()
    return ok, " AND ".join(names)


def npm_license(package_json: bytes, license_text: str | None) -> str:
    meta = json.loads(package_json)
    lic = meta.get("license")
    if isinstance(lic, dict):
        lic = lic.get("type")
    if not lic and isinstance(meta.get("licenses"), list):
        types = [x.get("type") if isinstance(x, dict) else x for x in meta["licenses"]]
        lic = " OR ".join(t for t in types if isinstance(t, str))
    if isinstance(lic, str) and lic.strip() and not lic.upper().startswith("SEE LICENSE"):
        return lic.strip()
    if license_text and (t := from_text(license_text)):
        return t
    raise LicenseUnknown("package.json declares no license")


def pypi_license(pkg_info: bytes, license_text: str | None) -> str:
    msg = email.parser.BytesParser().parsebytes(pkg_info, headersonly=True)
    expr = msg.get("License-Expression")
    if expr and expr.strip():
        return expr.strip()
    classifiers = [c.split("::")[-1].strip() for c in msg.get_all("Classifier") or [] if c.startswith("License ::")]
    mapped = []
    for c in classifiers:
        if c == _CC0_CLASSIFIER:
            mapped.append("CC0-1.0")
        elif c in _CLASSIFIERS:
            mapped.append(_CLASSIFIERS[c])
        elif c not in ("OSI Approved",):
            # A non-permissive classifier alongside a permissive one is ambiguous: refuse.
            return f"LicenseRef-classifier:{c}"
    if "BSD" in mapped:
        text_id = from_text(license_text or msg.get("License") or "")
        mapped = [text_id if (m == "BSD" and text_id and text_id.startswith("BSD")) else ("BSD-3-Clause" if m == "BSD" else m) for m in mapped]
    if mapped:
        return " OR ".join(dict.fromkeys(mapped))
    field = (msg.get("License") or "").strip()
    if field and "\n" not in field and len(field) < 80 and field.upper() != "UNKNOWN":
        return field
    if field and (t := from_text(field)):
        return t
    if license_text and (t := from_text(license_text)):
        return t
    raise LicenseUnknown("PKG-INFO declares no license")


_DEBIAN = {
    "expat": "MIT", "mit": "MIT", "bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause",
    "apache-2.0": "Apache-2.0", "apache-2": "Apache-2.0", "isc": "ISC", "psf-2": "PSF-2.0", "psf-2.0": "PSF-2.0",
    "python": "Python-2.0", "python-2.0": "Python-2.0", "zlib": "Zlib", "cc0-1.0": "CC0-1.0", "cc0": "CC0-1.0",
    "0bsd": "0BSD", "unlicense": "Unlicense", "bsl-1.0": "BSL-1.0", "x11": "X11", "hpnd": "HPND",
    "public-domain": "LicenseRef-public-domain",
}


def debian_license(copyright_text: str) -> str:
    """License of a Debian binary package from its machine-readable debian/copyright.

    The "Files: *" stanza gives the package license; every other upstream stanza
    must be permissive too, since a binary package does not keep source paths we
    could exclude selectively. Packaging-only stanzas (debian/*) are ignored.
    """
    if "Format:" not in copyright_text.split("\n\n", 1)[0]:
        raise LicenseUnknown("debian/copyright is not machine-readable (DEP-5)")
    main = None
    others: list[str] = []
    for stanza in re.split(r"\n\s*\n", copyright_text):
        files = re.search(r"^Files:\s*(.*(?:\n[ \t].*)*)", stanza, re.M)
        lic = re.search(r"^License:\s*(\S[^\n]*)", stanza, re.M)
        if not files or not lic:
            continue
        globs = files.group(1).split()
        name = lic.group(1).strip()
        if all(g.startswith("debian/") for g in globs):
            continue
        spdx = _debian_expr(name)
        if "*" in globs and main is None:
            main = spdx
        else:
            others.append(spdx)
    if main is None:
        raise LicenseUnknown("debian/copyright has no 'Files: *' stanza")
    for o in others:
        ok, _ = evaluate(o)
        if not ok:
            return f"{main} AND {o}"
    return main


def _debian_expr(name: str) -> str:
    parts = re.split(r"\s+(or|and)\s+|\s*([|,])\s*", name, flags=re.I)
    out = []
    for p in parts:
        if p is None or p == "":
            continue
        if p.lower() in ("or", "|"):
            out.append("OR")
        elif p.lower() in ("and", ","):
            out.append("AND")
        else:
            key = p.strip().lower()
            out.append(_DEBIAN.get(key) or _DEBIAN.get(re.sub(r"\+$", "", key)) or normalize(p) or f"LicenseRef-{p}")
    return " ".join(out)
