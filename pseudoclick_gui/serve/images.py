"""Where a task's image comes from, and what the server refuses to read.

A task's ``data.image`` may be:

* a local path (absolute, or relative to ``--image-root``): read only when it lies under ``--image-root`` once
  symbolic links and ``..`` are resolved; without ``--image-root`` no local file is read;
* Label Studio's local-files URL ``/data/local-files/?d=REL`` (absolute or relative URL): ``REL`` under
  ``--image-root`` as above, else fetched from Label Studio when its URL is set;
* a Label Studio URL (``/data/upload/...``, ``/tasks/.../presign/...``, or an absolute URL on
  ``--label-studio-url``): fetched from Label Studio with ``Authorization: Token <API key>``, no redirects;
* another ``http(s)://`` URL: fetched only with ``--allow-remote``.

Everything is bounded: the download (``max_image_bytes``), the pixel count (``max_pixels``, checked from the
header before pixels are decoded) and the time (``timeout``). Decoding is ``io.images.load_image`` (EXIF
orientation, 16-bit, grey, palettes).
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath

import numpy as np

from ..errors import ImageLoadError
from .errors import BadRequest, Forbidden, NotFound, ServeError, TooLarge
from .settings import ServeSettings

#: path prefixes of URLs that Label Studio itself serves
LABEL_STUDIO_PREFIXES = ("/data/upload/", "/data/local-files/", "/tasks/", "/storage-data/", "/api/")
MAX_REF_CHARS = 4096


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401 - urllib's signature
        raise ServeError(f"the image URL redirects (HTTP {code}); redirects are not followed", 502)


class ImageSource:
    """Turns a task's image reference into pixels under the settings' rules."""

    def __init__(self, settings: ServeSettings):
        self.settings = settings

    # ------------------------------------------------------------------------------------------- public
    def load(self, ref: str) -> np.ndarray:
        """H x W x 3 uint8 RGB for ``ref``; ServeError (with an HTTP status) when refused or unreadable."""
        kind, target = self.classify(ref)
        if kind == "local":
            return self._decode_file(target, ref)
        return self._fetch(target, ref, label_studio=(kind == "label-studio"))

    def classify(self, ref: str) -> tuple[str, object]:
        """("local", Path) | ("label-studio", url) | ("remote", url), or ServeError when refused."""
        if not isinstance(ref, str) or not ref.strip():
            raise BadRequest("the task's image reference is empty or not a string")
        ref = ref.strip()
        if len(ref) > MAX_REF_CHARS or "\x00" in ref:
            raise BadRequest("the task's image reference is too long or holds a NUL character")
        parsed = urllib.parse.urlsplit(ref)
        scheme = parsed.scheme.lower()
        ls = self.settings.label_studio_url
        if scheme in ("http", "https"):
            if ls and _same_origin(ref, ls):
                return self._label_studio_target(parsed, ref)
            if not self.settings.allow_remote:
                raise Forbidden("remote image URLs are not allowed (start the server with --allow-remote)")
            return "remote", ref
        if scheme == "file":
            return "local", self._local_path(urllib.parse.unquote(parsed.path), ref)
        if scheme and len(scheme) > 1:  # s3://, gs://, data: ... (a one-letter scheme is a Windows drive)
            raise Forbidden(f"image URLs of scheme {scheme!r} are not supported; let Label Studio serve them")
        if ref.startswith(LABEL_STUDIO_PREFIXES):
            return self._label_studio_target(parsed, ref)
        return "local", self._local_path(ref, ref)

    # ------------------------------------------------------------------------------------------- local
    def _label_studio_target(self, parsed: urllib.parse.SplitResult, ref: str) -> tuple[str, object]:
        if parsed.path.rstrip("/") == "/data/local-files" and self.settings.image_root is not None:
            rel = urllib.parse.parse_qs(parsed.query).get("d", [""])[0]
            if not rel:
                raise BadRequest("a local-files URL without ?d=")
            return "local", self._local_path(rel, ref)
        ls = self.settings.label_studio_url
        if not ls:
            raise Forbidden(f"{ref!r} is a Label Studio URL: start the server with --label-studio-url "
                            "(and an API key), or --image-root for local files")
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        return "label-studio", ls + path

    def _local_path(self, raw: str, ref: str) -> Path:
        root = self.settings.image_root
        if root is None:
            raise Forbidden("local image paths are not allowed (start the server with --image-root DIR)")
        p = Path(raw)
        if not p.is_absolute():
            if any(part == ".." for part in PurePosixPath(raw.replace("\\", "/")).parts):
                raise Forbidden(f"{ref!r}: '..' is not allowed in image paths")
            p = root / p
        try:
            resolved = p.resolve(strict=True)
        except (OSError, RuntimeError):
            # the same answer whether the file is outside the root or missing: nothing about the file system
            if _inside(p.resolve(strict=False), root):
                raise NotFound(f"image not found: {ref!r}") from None
            raise Forbidden(f"{ref!r} is outside the image root") from None
        if not _inside(resolved, root):
            raise Forbidden(f"{ref!r} is outside the image root")
        if not resolved.is_file():
            raise NotFound(f"{ref!r} is not a file")
        if resolved.stat().st_size > self.settings.max_image_bytes:
            raise TooLarge(f"{ref!r} is larger than {self.settings.max_image_bytes} bytes")
        return resolved

    def _decode_file(self, path: Path, ref: str) -> np.ndarray:
        from ..io.images import load_image

        try:
            return load_image(path, max_pixels=self.settings.max_pixels).rgb
        except ImageLoadError as exc:
            msg = str(exc).replace(str(path), repr(ref))
            status = 413 if ("limit" in msg or "too large" in msg) else 422
            raise ServeError(msg, status) from None

    # ------------------------------------------------------------------------------------------- remote
    def _fetch(self, url: str, ref: str, label_studio: bool) -> np.ndarray:
        headers = {"User-Agent": "pseudoclick-serve"}
        handlers: list = []
        if label_studio:
            handlers.append(_NoRedirect())
            if self.settings.api_key:
                headers["Authorization"] = f"Token {self.settings.api_key}"
        opener = urllib.request.build_opener(*handlers)
        limit = self.settings.max_image_bytes
        suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
        suffix = suffix if suffix in (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp") else ".img"
        try:
            with opener.open(urllib.request.Request(url, headers=headers),
                             timeout=min(30.0, self.settings.timeout)) as resp:
                length = resp.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > limit:
                    raise TooLarge(f"the image at {ref!r} is larger than {limit} bytes")
                fd, tmp = tempfile.mkstemp(prefix="pseudoclick-serve-", suffix=suffix)
                try:
                    total = 0
                    with os.fdopen(fd, "wb") as f:
                        while chunk := resp.read(1 << 16):
                            total += len(chunk)
                            if total > limit:
                                raise TooLarge(f"the image at {ref!r} is larger than {limit} bytes")
                            f.write(chunk)
                    return self._decode_file(Path(tmp), ref)
                finally:
                    os.unlink(tmp)
        except ServeError:
            raise
        except urllib.error.HTTPError as exc:
            status = 404 if exc.code == 404 else 502
            raise ServeError(f"fetching {ref!r} failed: HTTP {exc.code} {exc.reason}", status) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ServeError(f"fetching {ref!r} failed: {reason}", 502) from None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def _same_origin(url: str, base: str) -> bool:
    a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(base)
    return (a.scheme.lower(), a.hostname, a.port or _default_port(a.scheme)) == \
        (b.scheme.lower(), b.hostname, b.port or _default_port(b.scheme))


def _default_port(scheme: str) -> int:
    return 443 if scheme.lower() == "https" else 80
