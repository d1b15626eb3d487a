"""Model registry: the manifests in models/*.toml and the local model store.

A manifest names a model file, its published sha256, its tensors, alignment template,
normalisation and licence. `ModelStore.find(model_id)` returns the verified path of an
installed (or embedded) model or raises ModelError with one clear message saying which
file, which hash and how to install it. Verified hashes are cached keyed by size and
mtime, so a 500 MB model is hashed once, not on every run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import FacsimileError, ModelError
from core.paths import manifests_dir, model_store_dir
from core.util.atomic import atomic_path, atomic_write_text

log = logging.getLogger("facsimile.runtime")

FAMILIES = ("detector", "landmarker", "embedder", "restorer", "swapper", "occluder")
INSTALL_HINT = "facsimile models install DIR"
_HASH_CACHE = ".verified-hashes.json"
_ACCEPTED = "accepted-unverified.json"


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor: name ("" where the published file's name is not known;
    adapters then bind by position), shape (ints, or strings for dynamic axes), dtype."""

    name: str
    shape: tuple[Any, ...]
    dtype: str = "float32"
    role: str = ""


@dataclass(frozen=True)
class KnownFile:
    """Another published build of the same model (another redistribution, fp16 export)."""

    file: str
    sha256: str
    source: str = ""
    size: int | None = None


@dataclass
class ModelManifest:
    """One model as the manifests describe it."""

    id: str
    family: str
    name: str
    file: str
    sha256: str
    size: int | None
    hash_source: str
    input_size: tuple[int, int] | None
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    template: str
    normalisation: dict[str, Any]
    licence: str
    non_commercial: bool
    source: str
    homepage: str
    adapter: str = ""
    embedded: str = ""
    also_accept: list[KnownFile] = field(default_factory=list)
    notes: str = ""
    manifest_path: Path | None = None
    # occluders: what the output holds (face_probability | face_logit | class_logits) and, for a
    # face parser's class logits, which classes are face (the rest count as occluder)
    output_kind: str = ""
    face_classes: tuple[int, ...] = ()

    @property
    def is_embedded(self) -> bool:
        """Shipped inside an installed Python package (MediaPipe, face_recognition_models)."""
        return bool(self.embedded)

    def published_hashes(self) -> dict[str, str]:
        """Every published sha256 for this model -> the file name it was published as."""
        out = {self.sha256.lower(): self.file} if self.sha256 else {}
        for k in self.also_accept:
            if k.sha256:
                out[k.sha256.lower()] = k.file
        return out

    def file_names(self) -> set[str]:
        """Names this model's file is known under."""
        return {self.file} | {k.file for k in self.also_accept}


def _tensor(d: dict[str, Any]) -> TensorSpec:
    return TensorSpec(str(d.get("name", "")), tuple(d.get("shape", ())), str(d.get("dtype", "float32")),
                      str(d.get("role", "")))


def _manifest(d: dict[str, Any], path: Path) -> ModelManifest:
    missing = [k for k in ("id", "family", "file", "licence") if k not in d]
    if missing:
        raise ModelError(f"model manifest {path} has an entry without {', '.join(missing)}: fix the file")
    if d["family"] not in FAMILIES:
        raise ModelError(f"model manifest {path}: {d['id']} has unknown family {d['family']!r} "
                         f"(one of {', '.join(FAMILIES)})")
    sha = str(d.get("sha256", "")).lower()
    if sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        raise ModelError(f"model manifest {path}: {d['id']} has a malformed sha256 {sha!r}")
    size = d.get("input_size")
    return ModelManifest(
        id=d["id"], family=d["family"], name=d.get("name", d["id"]), file=d["file"], sha256=sha,
        size=d.get("size"), hash_source=d.get("hash_source", ""),
        input_size=tuple(size) if size else None,
        inputs=[_tensor(t) for t in d.get("inputs", [])], outputs=[_tensor(t) for t in d.get("outputs", [])],
        template=d.get("template", ""), normalisation=dict(d.get("normalisation", {})),
        licence=d["licence"], non_commercial=bool(d.get("non_commercial", False)),
        source=d.get("source", ""), homepage=d.get("homepage", ""), adapter=d.get("adapter", ""),
        embedded=d.get("embedded", ""),
        also_accept=[KnownFile(k["file"], str(k.get("sha256", "")).lower(), k.get("source", ""), k.get("size"))
                     for k in d.get("also_accept", [])],
        notes=d.get("notes", ""), manifest_path=path,
        output_kind=str(d.get("output_kind", "")), face_classes=tuple(int(c) for c in d.get("face_classes", ())),
    )


def load_manifests(directory: str | os.PathLike[str] | None = None) -> list[ModelManifest]:
    """Every model in the *.toml files of `directory` (default: the shipped models/ folder)."""
    directory = Path(directory) if directory else manifests_dir()
    if not directory.is_dir():
        raise ModelError(f"the model manifest folder {directory} does not exist (FACSIMILE_MANIFESTS?)")
    out: list[ModelManifest] = []
    seen: dict[str, Path] = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ModelError(f"cannot read model manifest {path}: {exc}") from exc
        for entry in data.get("model", []):
            m = _manifest(entry, path)
            if m.id in seen:
                raise ModelError(f"model id {m.id!r} is defined twice: {seen[m.id]} and {path}")
            seen[m.id] = path
            out.append(m)
    return out


def get_manifest(model_id: str, manifests: list[ModelManifest] | None = None) -> ModelManifest:
    """The manifest of `model_id`, or ModelError listing the known ids."""
    manifests = manifests if manifests is not None else load_manifests()
    for m in manifests:
        if m.id == model_id:
            return m
    raise ModelError(f"unknown model {model_id!r}; known: {', '.join(sorted(x.id for x in manifests))}")


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def embedded_path(spec: str) -> Path | None:
    """Resolve 'package:relative/path' inside an installed package without importing it."""
    pkg, _, rel = spec.partition(":")
    try:
        found = importlib.util.find_spec(pkg)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(list(found.submodule_search_locations)[0]) / rel


@dataclass
class VerifyResult:
    """The outcome of checking one model file."""

    model_id: str
    path: Path | None
    status: str  # ok | ok-unverified | mismatch | missing | no-published-hash
    expected: str
    actual: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "ok-unverified")


@dataclass
class InstallResult:
    """What `install` did with one candidate file."""

    source: Path
    model_id: str | None
    installed: bool
    reason: str
    skipped: bool = False  # nothing to do (an embedded model's own file); not a failure


class ModelStore:
    """The user's model store (core.paths.model_store_dir()) plus the shipped manifests."""

    def __init__(self, root: str | os.PathLike[str] | None = None,
                 manifests: list[ModelManifest] | None = None) -> None:
        self.root = Path(root) if root else model_store_dir()
        self.manifests = manifests if manifests is not None else load_manifests()

    # -- hashing with a cache ---------------------------------------------------------------
    def _cache_file(self) -> Path:
        return self.root / _HASH_CACHE

    def _read_json(self, path: Path) -> dict[str, Any]:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _write_json(self, path: Path, data: dict[str, Any]) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True))
        except Exception as exc:  # a read-only store still works, just without the cache
            log.debug("cannot write %s: %s", path, exc)

    def hash_of(self, path: Path) -> str:
        """sha256 of `path`, from the cache when its size and mtime are unchanged."""
        st = path.stat()
        key = str(path.resolve())
        cache = self._read_json(self._cache_file())
        hit = cache.get(key)
        if hit and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
            return hit["sha256"]
        t0 = time.perf_counter()
        digest = sha256_file(path)
        log.debug("hashed %s in %.2f s", path, time.perf_counter() - t0)
        cache[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
        self._write_json(self._cache_file(), cache)
        return digest

    def accepted_unverified(self) -> dict[str, Any]:
        """Models installed with --accept-unverified: id -> {file, sha256, accepted}."""
        return self._read_json(self.root / _ACCEPTED)

    # -- lookup -------------------------------------------------------------------------------
    def manifest(self, model_id: str) -> ModelManifest:
        return get_manifest(model_id, self.manifests)

    def path_for(self, m: ModelManifest) -> Path | None:
        """Where the model's file is (or would be): the store, or inside its package."""
        if m.is_embedded:
            return embedded_path(m.embedded)
        return self.root / m.file

    def status(self, m: ModelManifest) -> str:
        """installed | missing | embedded | embedded-missing (by presence; see verify for hashes)."""
        p = self.path_for(m)
        present = p is not None and p.is_file()
        if m.is_embedded:
            return "embedded" if present else "embedded-missing"
        return "installed" if present else "missing"

    def verify(self, m: ModelManifest | str) -> VerifyResult:
        """Check the model's file against its published hash (or the hash recorded when the
        user accepted it unverified)."""
        m = self.manifest(m) if isinstance(m, str) else m
        p = self.path_for(m)
        if p is None or not p.is_file():
            where = f"inside the Python package of {m.embedded}" if m.is_embedded else f"in {self.root}"
            how = ("reinstall that package" if m.is_embedded
                   else f"get {m.file} ({m.source or m.homepage or 'see the manifest'}) and run `{INSTALL_HINT}`")
            return VerifyResult(m.id, p, "missing", m.sha256,
                                message=f"model {m.id}: file {m.file} is not installed {where}; {how}")
        actual = self.hash_of(p)
        published = m.published_hashes()
        if published:
            if actual in published:
                return VerifyResult(m.id, p, "ok", m.sha256, actual, f"model {m.id}: {p} sha256 ok")
            return VerifyResult(
                m.id, p, "mismatch", m.sha256, actual,
                f"model {m.id}: {p} has sha256 {actual}, expected {m.sha256} (published by {m.hash_source or 'the manifest'}); "
                f"the file is damaged or a different build: replace it with `{INSTALL_HINT}`")
        rec = self.accepted_unverified().get(m.id)
        if rec and rec.get("sha256") == actual:
            return VerifyResult(m.id, p, "ok-unverified", "", actual,
                                f"model {m.id}: {p} has no published hash; it matches the hash recorded when "
                                f"it was installed with --accept-unverified ({actual[:16]}...)")
        return VerifyResult(m.id, p, "no-published-hash", "", actual,
                            f"model {m.id}: {p}: no published hash: cannot verify "
                            f"(install it with `{INSTALL_HINT} --accept-unverified` to trust this file)")

    def find(self, model_id: str) -> Path:
        """The verified path of `model_id`, or ModelError with one clear message."""
        m = self.manifest(model_id)
        r = self.verify(m)
        if r.status == "ok":
            return r.path  # type: ignore[return-value]
        if r.status == "ok-unverified":
            log.warning("model %s is unverified (no published hash; accepted by the user at install)", m.id)
            return r.path  # type: ignore[return-value]
        if r.status == "missing":
            expected = f"sha256 {m.sha256}" if m.sha256 else "no published sha256"
            raise ModelError(f"model {m.id} is not installed: expected file {m.file} ({expected}) in "
                             f"{self.root}; get it from {m.source or m.homepage or 'its publisher'} and run "
                             f"`{INSTALL_HINT}`")
        raise ModelError(r.message)

    def verify_all(self, include_missing: bool = False) -> list[VerifyResult]:
        """Verify every installed (and embedded) model; missing ones only when asked."""
        out = []
        for m in self.manifests:
            r = self.verify(m)
            if r.status != "missing" or include_missing:
                out.append(r)
        return out

    # -- install ------------------------------------------------------------------------------
    def install(self, source_dir: str | os.PathLike[str], accept_unverified: bool = False) -> list[InstallResult]:
        """Copy every file of `source_dir` (recursively) whose sha256 matches a manifest into
        the store under the manifest's file name, atomically; refuse the others with a reason."""
        src = Path(source_dir)
        if not src.is_dir():
            raise FacsimileError(f"{src} is not a folder: give the folder that holds the model files")
        files = sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise FacsimileError(f"{src} holds no files to install: give the folder the model files were "
                                 "downloaded to")
        by_hash: dict[str, ModelManifest] = {}
        by_name: dict[str, ModelManifest] = {}
        for m in self.manifests:
            for h in m.published_hashes():
                by_hash[h] = m
            for n in m.file_names():
                by_name.setdefault(n, m)
        self.root.mkdir(parents=True, exist_ok=True)
        results = []
        for f in files:
            digest = sha256_file(f)
            m = by_hash.get(digest)
            if m is not None:
                results.append(self._install_verified(f, m, digest))
                continue
            named = by_name.get(f.name)
            if named is None:
                results.append(InstallResult(f, None, False,
                                             f"unknown file: sha256 {digest[:16]}... matches no model manifest"))
            elif named.is_embedded:
                results.append(InstallResult(f, named.id, False, f"hash mismatch: {named.id} ships inside a Python "
                                             "package and this copy's sha256 differs from the known one"))
            elif named.published_hashes():
                results.append(InstallResult(
                    f, named.id, False,
                    f"hash mismatch: named like {named.id} but sha256 {digest} is not the published {named.sha256}"))
            elif not accept_unverified:
                results.append(InstallResult(
                    f, named.id, False,
                    f"no published hash for {named.id}: cannot verify (re-run with --accept-unverified to trust it)"))
            else:
                r = self._copy(f, named, digest)
                if r.installed:
                    acc = self.accepted_unverified()
                    acc[named.id] = {"file": named.file, "sha256": digest, "source": str(f),
                                     "accepted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                    self._write_json(self.root / _ACCEPTED, acc)
                    log.warning("installed %s WITHOUT verification (no published hash); recorded sha256 %s",
                                named.id, digest)
                    r.reason = f"installed UNVERIFIED (no published hash); recorded sha256 {digest}"
                results.append(r)
        return results

    def _install_verified(self, f: Path, m: ModelManifest, digest: str) -> InstallResult:
        if m.is_embedded:
            return InstallResult(f, m.id, False, f"skipped: {m.id} ships inside a Python package; nothing to install",
                                 skipped=True)
        target = self.root / m.file
        if target.is_file() and self.hash_of(target) == digest:
            return InstallResult(f, m.id, True, "already installed (sha256 ok)")
        return self._copy(f, m, digest)

    def _copy(self, f: Path, m: ModelManifest, digest: str) -> InstallResult:
        target = self.root / m.file
        with atomic_path(target) as tmp:
            shutil.copyfile(f, tmp)
            copied = sha256_file(tmp)
            if copied != digest:
                raise ModelError(f"copying {f} to {target} changed its sha256 ({copied} != {digest}): disk fault?")
        st = target.stat()
        cache = self._read_json(self._cache_file())
        cache[str(target.resolve())] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
        self._write_json(self._cache_file(), cache)
        note = "" if f.name == m.file else f" (as {m.file})"
        return InstallResult(f, m.id, True, f"installed{note}, sha256 ok")
