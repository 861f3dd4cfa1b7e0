"""Finding, downloading and verifying model files.

Lookup order for each file: ``FACELIVE_MODEL_DIR/<subdir>/<file>``, then the user cache.
A file is only ever returned after its sha256 matched the manifest. A missing file is
downloaded into the cache through a temporary file in the same folder, hashed while it
streams, and moved into place with ``os.replace`` only when the hash matches, so a crash or
a bad download never leaves a half-written or wrong file where a good one is expected.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path

from facelive.errors import ModelIntegrityError, ModelUnavailableError
from facelive.models.manifest import ModelSpec
from facelive.settings import Settings

_CHUNK = 1 << 16


class FileState(Enum):
    OK = "ok"
    MISSING = "missing"
    CORRUPT = "corrupt"


@dataclass(frozen=True, slots=True)
class FileStatus:
    spec: ModelSpec
    path: Path | None
    state: FileState


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def packaged_path(spec: ModelSpec) -> Path:
    """Where a model shipped inside the package lives (``facelive/models/<subdir>/<file>``)."""
    return Path(str(resources.files("facelive.models"))) / spec.subdir / spec.file


def _matches(path: Path, spec: ModelSpec) -> bool:
    return path.stat().st_size == spec.size and sha256_of(path) == spec.sha256


class ModelStore:
    """Resolves manifest entries to verified files on disk."""

    def __init__(
        self,
        model_dir: Path | None,
        cache_dir: Path,
        *,
        allow_download: bool = True,
        timeout_s: float = 60.0,
    ) -> None:
        self.model_dir = model_dir
        self.cache_dir = cache_dir
        self.allow_download = allow_download
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelStore:
        return cls(
            settings.model_dir,
            settings.cache_dir,
            allow_download=settings.allow_download,
            timeout_s=settings.download_timeout_s,
        )

    def candidates(self, spec: ModelSpec) -> list[Path]:
        if spec.packaged:
            return [packaged_path(spec)]
        roots = [self.model_dir] if self.model_dir is not None else []
        return [root / spec.subdir / spec.file for root in [*roots, self.cache_dir]]

    def status(self, spec: ModelSpec) -> FileStatus:
        """Where the file would be loaded from, and whether it is intact (hashes it)."""
        for path in self.candidates(spec):
            if path.is_file():
                state = FileState.OK if _matches(path, spec) else FileState.CORRUPT
                return FileStatus(spec, path, state)
        return FileStatus(spec, None, FileState.MISSING)

    def path_for(self, spec: ModelSpec) -> Path:
        """A verified path to the model file, downloading it into the cache if allowed.

        A corrupt file in ``model_dir`` is refused (that folder belongs to the operator and
        is never written); a corrupt file in the cache is replaced by a fresh download.
        """
        found = self.status(spec)
        if found.state is FileState.OK and found.path is not None:
            return found.path
        if spec.packaged:
            # facelive's own weights ship in the package; there is nowhere to download them from.
            raise ModelIntegrityError(
                f"packaged model {spec.relative_path} is {found.state.value} "
                f"({packaged_path(spec)}); reinstall facelive.",
                f"随包模型{spec.relative_path}缺失或损坏，请重新安装facelive。",
            )
        if found.state is FileState.CORRUPT and found.path is not None:
            in_cache = found.path == self.cache_dir / spec.subdir / spec.file
            if not (in_cache and self.allow_download):
                raise ModelIntegrityError(
                    f"model file {found.path} does not match its sha256 {spec.sha256}; "
                    "refusing to load it. Replace the file or delete it so it can be "
                    "downloaded again.",
                    f"模型文件{found.path}的sha256校验失败，拒绝加载。请替换或删除该文件后重新下载。",
                )
        return self.download(spec)

    def download(self, spec: ModelSpec, url: str | None = None) -> Path:
        """Fetch ``spec`` into the cache; the file appears only once its sha256 matched."""
        target = self.cache_dir / spec.subdir / spec.file
        source = url or spec.url
        if not self.allow_download:
            raise self._unavailable(spec, "downloads are disabled (FACELIVE_ALLOW_DOWNLOAD=0)")
        if urllib.parse.urlsplit(source).scheme not in ("https", "http"):
            # The sha256 guards the content; the scheme check keeps file: and ftp: out.
            raise self._unavailable(spec, f"the URL {source!r} is not http(s)")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.file}.", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            request = urllib.request.Request(source, headers={"User-Agent": "facelive"})  # noqa: S310
            with (
                os.fdopen(fd, "wb") as out,
                urllib.request.urlopen(request, timeout=self.timeout_s) as response,  # noqa: S310
            ):
                while chunk := response.read(_CHUNK):
                    size += len(chunk)
                    if size > spec.size:
                        raise ModelIntegrityError(
                            f"download of {spec.relative_path} is larger than the expected "
                            f"{spec.size} bytes; refusing it"
                        )
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != spec.sha256:
                raise ModelIntegrityError(
                    f"downloaded {spec.relative_path} has sha256 {digest.hexdigest()}, "
                    f"expected {spec.sha256}; refusing it"
                )
            os.replace(tmp, target)
        except OSError as exc:
            raise self._unavailable(spec, f"download from {source} failed: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def _unavailable(self, spec: ModelSpec, why: str) -> ModelUnavailableError:
        where = ", ".join(str(p) for p in self.candidates(spec))
        return ModelUnavailableError(
            f"model file {spec.relative_path} not found (looked in {where}) and {why}. "
            f"Set FACELIVE_MODEL_DIR to a folder holding {spec.relative_path}, or run "
            "`facelive models fetch` on a machine with internet access.",
            f"未找到模型文件{spec.relative_path}，且无法下载。请设置环境变量FACELIVE_MODEL_DIR"
            f"指向包含{spec.relative_path}的目录，或运行 facelive models fetch。",
        )
