"""Which distribution may provide an import name, when its metadata is not there to ask.

The backend's requirements may not be installed (a laptop, a structure-only CI job): then
`python-jose` cannot be asked which import names it provides. Both the name classifier and the
dependency check need the same guess, so it lives here once.
"""

from __future__ import annotations

import re
from pathlib import Path

from conformance.model.spec import Spec
from conformance.repo.index import RepoIndex

# Import names that neither equal nor appear in the name of the distribution that provides them
# (normalized, separators dropped; fnmatch globs). `jose` in python-jose, `jwt` in PyJWT,
# `yaml` in PyYAML need no entry.
KNOWN_PROVIDERS: dict[str, tuple[str, ...]] = {
    "bs4": ("beautifulsoup4",), "sklearn": ("scikitlearn",), "skimage": ("scikitimage",),
    "cv2": ("opencv*",), "fitz": ("pymupdf*",), "mysqldb": ("mysqlclient",), "pkg_resources": ("setuptools",),
    "win32api": ("pywin32",), "win32con": ("pywin32",), "win32com": ("pywin32",), "pythoncom": ("pywin32",),
    "pywintypes": ("pywin32",), "telebot": ("pytelegrambotapi",), "googleapiclient": ("googleapipythonclient",),
    "google": ("google*", "protobuf"), "bio": ("biopython",), "mpl_toolkits": ("matplotlib",),
    "pylab": ("matplotlib",), "gi": ("pygobject",), "_cffi_backend": ("cffi",), "magic": ("pythonmagic*",),
    "dateutil": ("pythondateutil",), "snappy": ("pythonsnappy",), "usb": ("pyusb",), "jwt": ("pyjwt",),
}


def _compact(name: str) -> str:
    return re.sub(r"[-_.]+", "", name).lower()


def might_provide(distribution: str, module: str) -> bool:
    """Whether `distribution`, whose metadata we do not have, may be where import `module` comes from:
    same name, the name inside the distribution's (python-jose/jose, PyYAML/yaml), or a known exception."""
    import fnmatch

    dist, name = _compact(distribution), _compact(module)
    if name and name in dist:
        return True
    return any(fnmatch.fnmatchcase(dist, glob) for glob in KNOWN_PROVIDERS.get(module.lower(), ()))


INCLUDE = re.compile(r"^\s*(?:-r|--requirement)(?:\s*=\s*|\s+)(\S+)")  # another requirements file


def requirement_names(path: Path) -> list[str]:
    names = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if match:
            names.append(match.group(0))
    return names


def declared_names(path: Path, seen: frozenset[Path] = frozenset()) -> list[str]:
    """Requirement names of a file and of the files it includes (`-r base.txt`, relative to it),
    as pip and deptry read them; an include that does not exist is reported by the check."""
    names = requirement_names(path)
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = INCLUDE.match(line.split(" #", 1)[0])
        target = (path.parent / match.group(1)).resolve() if match else None
        if target is not None and target.is_file() and target not in seen:
            names += declared_names(target, seen | {path.resolve()})
    return names


def normalize_distribution(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): `Python_Jose` == `python-jose`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def backend_requirements(index: RepoIndex, spec: Spec) -> list[str]:
    """The distribution names of the backend's requirements file, read like every other backend
    file: only when tracked (in the index), never through a symlink out of the backend."""
    path = index.rel(spec.imports.requirements)
    if path not in index.files or index.link_out(path) is not None:
        return []
    try:
        return requirement_names(index.root / path)
    except OSError:
        return []
