"""Altered copies of the images of a folder, for ``./demo.sh --duplicates``: each image recompressed
(JPEG quality 20), cropped (55-75 % of the area), resized (0.3-0.5x) and recoloured (brightness and
contrast; grayscale), made exactly as the near-duplicate benchmark makes them
(``bench.near_duplicates.ALTERATIONS``), saved as ``<name>__<kind>.jpg``.

    python scripts/altered_copies.py SOURCE_DIR TARGET_DIR [--kinds jpeg,crop,resize,brightness,grayscale]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.near_duplicates import ALTERATIONS, ENCODE_QUALITY, JPEG_QUALITY  # noqa: E402

DEFAULT_KINDS = "jpeg,crop,resize,brightness,grayscale"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--kinds", default=DEFAULT_KINDS, help=f"of {', '.join(ALTERATIONS)}")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    kinds = args.kinds.split(",")
    unknown = [kind for kind in kinds if kind not in ALTERATIONS]
    if unknown:
        parser.error(f"--kinds: unknown {unknown}; choose from {', '.join(ALTERATIONS)}")
    args.target.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    written = 0
    for source in sorted(p for p in args.source.iterdir() if p.is_file() and not p.name.startswith((".", "_"))):
        image = cv2.imread(str(source), cv2.IMREAD_COLOR)
        if image is None:
            print(f"skipped {source.name}: not an image OpenCV reads", file=sys.stderr)
            continue
        for kind in kinds:
            quality = ENCODE_QUALITY.get(kind, JPEG_QUALITY)
            target = args.target / f"{source.stem}__{kind}.jpg"
            cv2.imwrite(str(target), ALTERATIONS[kind](image, rng), [cv2.IMWRITE_JPEG_QUALITY, quality])
            written += 1
    print(f"{written} altered copies in {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
