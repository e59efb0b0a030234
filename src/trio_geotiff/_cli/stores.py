"""Where a file is: a local path or a URL turned into an obstore store and a path in it.

`resolve` is the one place that knows URL schemes. The command line uses it,
and so can anything else that takes "a path or a URL" (an xarray backend).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from trio_geotiff.errors import InvalidArgumentError, ObjectNotFoundError, StoreError

if TYPE_CHECKING:
    from obstore.store import ClientConfig, ObjectStore, RetryConfig

__all__ = ["NO_SUCH_FILE", "Location", "resolve"]

NO_SUCH_FILE: Final = "no such file"
"""The reason of the `ObjectNotFoundError` for a missing local file."""

_REMOTE_SCHEMES: Final = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "az": "azure",
    "adl": "azure",
    "azure": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "http": "http",
    "https": "http",
}
# obstore's defaults retry for up to 3 minutes; a command should fail sooner.
_MAX_RETRIES: Final = 3
_RETRY_TIMEOUT: Final = dt.timedelta(seconds=30)


class Location(NamedTuple):
    """A file's store, its path in that store, and how to name it to a person."""

    store: ObjectStore
    """The obstore store of the file's directory (or URL prefix)."""
    path: str
    """The file's name in `store` (percent-decoded for URLs)."""
    display: str
    """The path or URL as it was given, for messages."""


def resolve(
    url_or_path: str,
    *,
    no_sign_request: bool = False,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> Location:
    """The obstore store and path for a local path or a URL.

    Local paths (and ``file://`` URLs) get a ``LocalStore`` of the file's
    directory; ``s3://``, ``gs://``, ``az://`` and ``abfs://`` URLs get
    obstore's ``from_url`` store of the URL's directory (credentials and
    settings from the environment, as obstore reads them); ``http(s)://`` URLs
    get an ``HTTPStore`` of the URL's directory. Remote stores retry a failed
    request at most 3 times, for at most 30 s. Nothing is fetched: a missing
    remote object is found when the file is opened.

    Args:
        url_or_path: A local path or a URL naming one file.
        no_sign_request: Send unsigned requests (public S3, GCS and Azure buckets).
        region: The S3 bucket's region (default: from the environment).
        endpoint_url: An S3-compatible endpoint for ``s3://`` URLs (MinIO, R2...).

    Returns:
        ``(store, path, display)``, ready for ``GeoTIFF.open(path, store=store)``.

    Raises:
        ObjectNotFoundError: A local path that does not exist.
        StoreError: A local path that is a directory.
        InvalidArgumentError: An unsupported URL scheme, a URL with a query or
            fragment or naming no file, or a URL or option obstore refuses.
    """
    try:
        parts = urllib.parse.urlsplit(url_or_path)
    except ValueError as exc:  # "Invalid IPv6 URL"
        raise InvalidArgumentError(url_or_path, str(exc)) from exc
    scheme = parts.scheme.lower()
    # One-letter schemes are Windows drive letters ("C:\\data\\x.tif").
    if scheme in ("", "file") or len(scheme) == 1:
        return _local(url_or_path, parts)
    kind = _REMOTE_SCHEMES.get(scheme)
    if kind is None:
        raise InvalidArgumentError(
            url_or_path,
            f"unsupported URL scheme {parts.scheme!r}"
            " (use a local path, s3://, gs://, az://, abfs:// or http(s)://)",
        )
    if parts.query or parts.fragment:
        raise InvalidArgumentError(
            url_or_path, "URLs with a query string or fragment are not supported"
        )
    directory, _, name = url_or_path.rpartition("/")
    if not name or not parts.netloc or directory.endswith(":/"):
        raise InvalidArgumentError(
            url_or_path, "the URL must name a file (scheme://host-or-bucket/.../file.tif)"
        )
    try:
        store = _remote_store(
            directory,
            scheme,
            no_sign_request=no_sign_request,
            region=region,
            endpoint_url=endpoint_url,
        )
    except Exception as exc:  # obstore raises its own errors for bad URLs and config
        raise InvalidArgumentError(url_or_path, _first_line(exc)) from exc
    return Location(store, urllib.parse.unquote(name), url_or_path)


def _local(target: str, parts: urllib.parse.SplitResult) -> Location:
    from obstore.store import LocalStore  # noqa: PLC0415 - keeps `--help` fast

    local = Path(urllib.parse.unquote(parts.path) if parts.scheme == "file" else target)
    local = local.expanduser()
    if not local.exists():
        raise ObjectNotFoundError(target, NO_SUCH_FILE)
    if local.is_dir():
        raise StoreError(target, "is a directory, not a file")
    local = local.resolve()
    return Location(LocalStore(str(local.parent)), local.name, target)


def _remote_store(
    directory: str,
    scheme: str,
    *,
    no_sign_request: bool,
    region: str | None,
    endpoint_url: str | None,
) -> ObjectStore:
    from obstore.store import HTTPStore, from_url  # noqa: PLC0415 - keeps `--help` fast

    kind = _REMOTE_SCHEMES[scheme]
    retry: RetryConfig = {"max_retries": _MAX_RETRIES, "retry_timeout": _RETRY_TIMEOUT}
    client: ClientConfig = {}
    if kind == "http":
        if scheme == "http":
            client["allow_http"] = True
        return HTTPStore.from_url(directory + "/", client_options=client, retry_config=retry)
    options: dict[str, Any] = {}
    if no_sign_request:
        options["skip_signature"] = True
    if kind == "s3":
        if region:
            options["region"] = region
        if endpoint_url:
            options["endpoint"] = endpoint_url
            if endpoint_url.lower().startswith("http://"):
                client["allow_http"] = True
    return from_url(directory, client_options=client or None, retry_config=retry, **options)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else ""
    return line or type(exc).__name__
