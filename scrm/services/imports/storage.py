"""Where uploaded import files live: `<import_dir>/<job id>/`, outside the static folder, never served as is.

Each job's folder holds the upload (`source.csv` / `source.xlsx`), an optional header map
(`headers.toml`) and the rejected-rows report (`rejected.csv`). Only files inside the import folder are
ever handed out, and only through the scoped, audited download route.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import IO

from scrm import ROOT, runtime
from scrm.services.errors import Invalid

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_HEADER_MAP_BYTES = 64 * 1024
SUFFIXES = (".csv", ".xlsx")
REPORT_NAME = "rejected.csv"
HEADER_MAP_NAME = "headers.toml"
_COPY_CHUNK = 1 << 20
_XLSX_MAGIC = b"PK\x03\x04"
_BINARY_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b")


class UploadRefused(Invalid):
    """An uploaded file that is not accepted (type, size, content); nothing was stored."""

    message = "This file cannot be imported."


def import_root() -> Path:
    """The folder holding every job's files (setting `app.import_dir`, default `instance/imports`)."""
    configured = runtime.get().settings.app.import_dir
    return Path(configured) if configured else ROOT / "instance" / "imports"


def job_dir(job_id: int) -> Path:
    """The folder of one job's files."""
    return import_root() / str(int(job_id))


def suffix_of(filename: str) -> str:
    """The accepted suffix of an upload's name ('' when it is not .csv or .xlsx)."""
    suffix = Path(filename).suffix.lower()
    return suffix if suffix in SUFFIXES else ""


def source_path(job_id: int, filename: str) -> Path:
    """Where the upload of a job is stored."""
    return job_dir(job_id) / f"source{suffix_of(filename) or '.csv'}"


def report_path(job_id: int) -> Path:
    """Where the rejected-rows report of a job is written."""
    return job_dir(job_id) / REPORT_NAME


def header_map_path(job_id: int) -> Path:
    """Where the optional header map of a job is stored."""
    return job_dir(job_id) / HEADER_MAP_NAME


def inside_root(path: Path) -> bool:
    """True when `path` is a file within the import folder (so it may be handed out)."""
    try:
        resolved = path.resolve(strict=True)
    except OSError:
        return False
    return resolved.is_file() and resolved.is_relative_to(import_root().resolve())


def check_name(filename: str) -> str:
    """The upload's name, cleaned for display; UploadRefused unless it ends in .csv or .xlsx."""
    name = Path(filename.replace("\\", "/")).name.strip()
    if not name:
        raise UploadRefused("Choose a file to import.", field="file")
    if not suffix_of(name):
        raise UploadRefused("Only .csv and .xlsx files can be imported (this one is %(name)s).", field="file",
                            name=name)
    return name[:255]


def save_upload(stream: IO[bytes], target: Path, *, suffix: str) -> int:
    """Copy an upload to `target` (at most 50 MB, content matching its type); return its size in bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    head = b""
    with target.open("xb") as out:
        while chunk := stream.read(_COPY_CHUNK):
            if not head:
                head = chunk[:8]
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise UploadRefused("The file is larger than %(limit)d MB: split it into smaller files.",
                                    field="file", limit=MAX_UPLOAD_BYTES // (1024 * 1024))
            out.write(chunk)
    if size == 0:
        raise UploadRefused("The file is empty.", field="file")
    if suffix == ".xlsx" and not head.startswith(_XLSX_MAGIC):
        raise UploadRefused("This file is not an Excel workbook (.xlsx), although its name ends in .xlsx.",
                            field="file")
    if suffix == ".csv" and head.startswith(_BINARY_MAGIC):
        raise UploadRefused("This file is not a CSV text file, although its name ends in .csv. Save the "
                            "sheet as CSV or .xlsx.", field="file")
    return size


def read_header_map(stream: IO[bytes]) -> bytes:
    """The bytes of an uploaded header map (UploadRefused when larger than 64 KB)."""
    data = stream.read(MAX_HEADER_MAP_BYTES + 1)
    if len(data) > MAX_HEADER_MAP_BYTES:
        raise UploadRefused("The header map is larger than 64 KB.", field="header_map")
    return data


def remove_job_files(job_id: int) -> None:
    """Delete a job's folder (after a refused upload)."""
    shutil.rmtree(job_dir(job_id), ignore_errors=True)
