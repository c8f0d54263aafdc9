"""The click type of a table flag (--predictions, --reference): a local path, or a URL kept as typed.

Why: click.Path(path_type=Path) turns `s3://bucket/key.parquet` into `s3:/bucket/key.parquet` (pathlib folds
the double slash), and the commands then resolve it against the working folder. A URL comes back as a Uri,
a str that answers the few Path calls the commands make (resolve, absolute, expanduser, suffix, name) with
itself, so the engines receive it unchanged (gates.engine.choose, gates.readers.objectstore).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gates.readers.objectstore import is_uri


class Uri(str):
    """A URL given as a flag (s3://, gs://, https://): never resolved against a folder."""

    __slots__ = ()

    def resolve(self) -> Uri:
        return self

    def absolute(self) -> Uri:
        return self

    def expanduser(self) -> Uri:
        return self

    @property
    def name(self) -> str:
        return self.rstrip("/").rsplit("/", 1)[-1]

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix


class TableLocation(click.ParamType):
    """A table: a path (as click.Path(path_type=Path) gives it), or a URL as a Uri."""

    name = "path"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path | Uri:
        if isinstance(value, (Path, Uri)):
            return value
        text = str(value)
        return Uri(text) if is_uri(text) else Path(text)


TABLE = TableLocation()
