"""PDF documents (quotes, later bills): HTML rendered by WeasyPrint, and the download
response that carries them.

WeasyPrint is not a browser and the site's Content-Security-Policy does not bind it, so
the rendering itself is locked down: the fetcher here refuses every URL except `data:` and
files under the static folder (no network, no `file:///etc/...`), and fonts come from the
machine's fontconfig, never from the network.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit
from urllib.request import url2pathname

from flask import Response
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

STATIC_ROOT = Path(__file__).resolve().parent.parent / "static"
PDF_MIMETYPE = "application/pdf"
MAX_FILENAME = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSION = re.compile(r"^(.*)\.([A-Za-z0-9]{1,8})$", re.S)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\"\\/:*?<>|;]+")


class LocalOnlyFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that reads `data:` URLs and files below `root`; anything
    else (http, https, ftp, files elsewhere) is refused, and WeasyPrint renders without it."""

    def __init__(self, root: Path = STATIC_ROOT) -> None:
        super().__init__(allowed_protocols=("file", "data"), allow_redirects=False)
        self.root = Path(root).resolve()

    def fetch(self, url, headers=None):
        """The resource at `url` if it is allowed; ValueError otherwise."""
        scheme = urlsplit(url).scheme.lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme != "file":
            raise ValueError(f"PDF rendering fetches no {scheme or 'relative'} URL: {url}")
        path = Path(url2pathname(unquote(urlsplit(url).path))).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            raise ValueError(f"PDF rendering reads files of the static folder only: {url}")
        return URLFetcherResponse(path.as_uri(), path.read_bytes())


def render_pdf(html: str, base_url: str | Path | None = None,
               root: Path = STATIC_ROOT) -> bytes:
    """The PDF of `html`. Relative URLs in it resolve against `base_url` (the static folder
    by default); only `data:` URLs and files below `root` can be read."""
    if base_url is None:
        base_url = root.resolve().as_uri() + "/"
    elif isinstance(base_url, Path):
        base_url = base_url.resolve().as_uri() + "/"
    document = HTML(string=html, base_url=base_url, url_fetcher=LocalOnlyFetcher(root))
    return document.write_pdf()


def safe_filename(name: str, default: str = "document.pdf") -> str:
    """`name` reduced to a harmless ASCII file name: letters, digits, `.`, `_` and `-`,
    no leading dot, at most MAX_FILENAME characters, the extension kept; `default` when
    nothing is left."""
    ascii_name = (unicodedata.normalize("NFKD", name or "")
                  .encode("ascii", "ignore").decode("ascii"))
    match = _EXTENSION.match(ascii_name)
    stem, ext = match.groups() if match else (ascii_name, "")
    stem = re.sub(r"-{2,}", "-", _UNSAFE.sub("-", stem)).strip(".-_")
    if not any(c.isalnum() for c in stem):
        return default
    stem = stem[:MAX_FILENAME - len(ext) - 1].rstrip(".-_")
    return f"{stem}.{ext}" if ext else stem


def content_disposition(name: str, default: str = "document.pdf") -> str:
    """An RFC 6266 `attachment` header value: an ASCII `filename` every client reads, and
    the UTF-8 name in `filename*` (RFC 8187) when it differs."""
    fallback = safe_filename(name, default)
    readable = _CONTROL.sub("-", unicodedata.normalize("NFC", name or "")).strip(" .")
    value = f'attachment; filename="{fallback}"'
    if readable and readable != fallback and len(readable) <= MAX_FILENAME:
        value += f"; filename*=UTF-8''{quote(readable, safe='')}"
    return value


def pdf_response(pdf: bytes, filename: str) -> Response:
    """A download of `pdf`: application/pdf, an attachment with a safe file name, and never
    kept by a browser or a shared cache (`Cache-Control: no-store`)."""
    response = Response(pdf, mimetype=PDF_MIMETYPE)
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
