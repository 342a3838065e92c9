"""Files the package reads besides its modules (the SQL scripts, conf/job.yaml), wherever it runs
from: a checkout has them at its top (``sql/``, ``conf/``); a wheel carries copies under
``udfs/data/`` with the same relative paths (put there by its build, ``scripts/wheel_build.py``).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_path(relative: str) -> Path:
    """The file or folder at ``relative`` (as in the checkout, e.g. ``"sql"``): the installed
    package's copy if it has one, else the checkout's."""
    packaged = _PACKAGE / "data" / relative
    return packaged if packaged.exists() else _PACKAGE.parent / relative
