"""The old name of ``udfs.jars`` (until 0.1): same functions; ``python -m udfs.format_jar``
still prints a jar's path, with a warning."""

from __future__ import annotations

import sys

from udfs.jars import JAR, PROVIDER_JAR, jar_path, jar_url, provider_jar_path  # noqa: F401

if __name__ == "__main__":
    print("WARNING python -m udfs.format_jar is now python -m udfs.jars", file=sys.stderr)
    from udfs.jars import main

    main()
