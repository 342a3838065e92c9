"""Near-duplicate benchmark: can the image embedding find the original of an altered photo, and
refuse photos it never stored? Our embeddings (through a Flink SQL job) against perceptual hashing.

    python -m bench.near_duplicates [--indexed 250] [--distractors 150] [--seed 0] [-D key=value ...]
                                    [--work DIR] [--no-phash]

1. split the 500 imagenet-dev photos with a fixed seed: ``--indexed`` stored photos, ``--distractors``
   photos that are only ever queries (never stored), and the rest held out (never evaluated: the
   photos any learned part of a descriptor may be fitted on);
2. write, for every stored photo, one altered copy per kind in ``ALTERATIONS`` (random parameters
   from the seed), next to the originals and the distractors, as files in one folder;
3. embed every file with ``embed_image`` in a Flink batch job (``SELECT path, embed_image(image)
   FROM images``: the same UDF and options as production), and pHash every file with ``imagehash``;
4. for each query find the nearest stored photo (cosine similarity / Hamming distance): recall@1
   is the share whose nearest is its original; the threshold is the best score any distractor
   reaches, and recall at the threshold counts the queries whose nearest is right *and* scores
   strictly better than every distractor (a de-duplicating job would flag them and nothing else).

Results print as a Markdown table and go to ``bench/results/near_duplicates.{json,md}``.
``pip install -e .[bench]`` brings ``imagehash``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import cv2
import numpy as np

from bench.common import IMAGENET_DEV, RESULTS, machine

SEED = 0
JPEG_QUALITY = 92  # altered copies are saved at this quality, except the "jpeg" kind


# --- 1. the split -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    indexed: tuple[Path, ...]  # stored; each also gives one query per alteration kind
    distractors: tuple[Path, ...]  # queries whose original is not stored
    held_out: tuple[Path, ...]  # never evaluated: what a learned descriptor may be fitted on


def split_photos(indexed: int, distractors: int, seed: int = SEED,
                 photos: Sequence[Path] | None = None) -> Split:
    """The imagenet-dev photos shuffled with ``seed``: the first ``indexed`` are stored, the next
    ``distractors`` are distractor queries, the rest are held out."""
    photos = sorted(photos if photos is not None else IMAGENET_DEV.glob("*.JPEG"))
    if indexed + distractors > len(photos):
        raise ValueError(f"--indexed + --distractors: at most {len(photos)} photos, got {indexed + distractors}")
    random.Random(seed).shuffle(photos)
    return Split(tuple(photos[:indexed]), tuple(photos[indexed:indexed + distractors]),
                 tuple(photos[indexed + distractors:]))


# --- 2. the alterations -------------------------------------------------------------------------


def _jpeg(image: np.ndarray, rng: random.Random) -> np.ndarray:
    return image  # the alteration is the encoding: saved at quality 20 (see ENCODE_QUALITY)


def _crop(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """A window keeping 55-75 % of the area, aspect ratio within 4:5..5:4 of the photo's, anywhere."""
    height, width = image.shape[:2]
    area, aspect = rng.uniform(0.55, 0.75), rng.uniform(0.8, 1.25)
    w = min(width, round(width * (area * aspect) ** 0.5))
    h = min(height, round(height * area / (w / width)))
    x, y = rng.randint(0, width - w), rng.randint(0, height - h)
    return image[y:y + h, x:x + w]


def _resize(image: np.ndarray, rng: random.Random) -> np.ndarray:
    factor = rng.uniform(0.3, 0.5)
    size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _rotate(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """5-8 degrees either way about the centre, same canvas, black corners."""
    angle = rng.uniform(5, 8) * rng.choice((-1, 1))
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))


def _brightness_contrast(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """Contrast x0.6-0.8 or x1.3-1.5 about mid-grey, brightness +-30-50 levels."""
    contrast = rng.choice((rng.uniform(0.6, 0.8), rng.uniform(1.3, 1.5)))
    brightness = rng.uniform(30, 50) * rng.choice((-1, 1))
    return cv2.convertScaleAbs(image, alpha=contrast, beta=brightness + 128 * (1 - contrast))


def _flip(image: np.ndarray, rng: random.Random) -> np.ndarray:
    return cv2.flip(image, 1)


_WORDS = ("SALE", "sample", "copyright", "2024", "watermark", "photo", "@user", "NEW", "repost")


def _overlay(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """A black band across 12-18 % of the height (top or bottom) and a caption in the middle."""
    out = image.copy()
    height, width = out.shape[:2]
    band = round(height * rng.uniform(0.12, 0.18))
    if rng.random() < 0.5:
        out[:band] = 0
    else:
        out[height - band:] = 0
    text = " ".join(rng.sample(_WORDS, 2))
    scale = width / 320
    thickness = max(1, round(scale * 2))
    (text_width, text_height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    origin = (max(0, (width - text_width) // 2), height // 2 + text_height // 2)
    colour = rng.choice(((255, 255, 255), (0, 255, 255), (0, 0, 255)))
    cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)
    return out


def _grayscale(image: np.ndarray, rng: random.Random) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)  # saved as a one-channel JPEG


ALTERATIONS: Mapping[str, Callable[[np.ndarray, random.Random], np.ndarray]] = {
    "jpeg": _jpeg,
    "crop": _crop,
    "resize": _resize,
    "rotate": _rotate,
    "brightness": _brightness_contrast,
    "flip": _flip,
    "overlay": _overlay,
    "grayscale": _grayscale,
}
ENCODE_QUALITY = {"jpeg": 20}


@dataclass(frozen=True)
class Benchmark:
    folder: Path
    indexed: tuple[Path, ...]  # the files stored in the index (copies of the originals)
    queries: tuple[tuple[Path, str, int], ...]  # (file, alteration kind, index of its original)
    distractors: tuple[Path, ...]

    @property
    def files(self) -> list[Path]:
        return [*self.indexed, *(path for path, _, _ in self.queries), *self.distractors]


def write_benchmark(split: Split, folder: Path, seed: int = SEED,
                    kinds: Sequence[str] = tuple(ALTERATIONS)) -> Benchmark:
    """The stored originals, one altered copy of each per kind, and the distractors, under
    ``folder`` (``indexed/``, ``queries/<kind>/``, ``distractors/``)."""
    for sub in ("indexed", "distractors", *(f"queries/{kind}" for kind in kinds)):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    indexed, queries, distractors = [], [], []
    for number, photo in enumerate(split.indexed):
        data = photo.read_bytes()
        stored = folder / "indexed" / photo.name
        stored.write_bytes(data)
        indexed.append(stored)
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        for kind in kinds:
            rng = random.Random(f"{seed}/{photo.name}/{kind}")
            altered = ALTERATIONS[kind](image, rng)
            path = folder / "queries" / kind / f"{photo.stem}.jpg"
            quality = ENCODE_QUALITY.get(kind, JPEG_QUALITY)
            ok, encoded = cv2.imencode(".jpg", altered, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise RuntimeError(f"cannot encode {path}")
            path.write_bytes(encoded.tobytes())
            queries.append((path, kind, number))
    for photo in split.distractors:
        path = folder / "distractors" / photo.name
        path.write_bytes(photo.read_bytes())
        distractors.append(path)
    return Benchmark(folder, tuple(indexed), tuple(queries), tuple(distractors))


# --- 4. the metrics -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """Similarity of every query and distractor to every stored photo: higher is more alike."""

    queries: np.ndarray  # (queries, indexed)
    distractors: np.ndarray  # (distractors, indexed)


def cosine_scores(indexed: np.ndarray, queries: np.ndarray, distractors: np.ndarray) -> Scores:
    """Cosine similarity of L2-normalised rows (a dot product), computed in f64."""
    def unit(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    stored = unit(indexed).T
    return Scores(unit(queries) @ stored, unit(distractors) @ stored)


def hamming_scores(indexed: np.ndarray, queries: np.ndarray, distractors: np.ndarray) -> Scores:
    """Minus the Hamming distance of boolean hash rows (so that higher is more alike)."""
    def distances(a: np.ndarray) -> np.ndarray:
        return -(a[:, None, :] != indexed[None, :, :]).sum(axis=2).astype(np.float64)

    return Scores(distances(queries), distances(distractors))


@dataclass(frozen=True)
class Recall:
    at_1: float  # nearest stored photo is the original (strictly better than every other)
    at_threshold: float  # ... and scores strictly better than every distractor's best
    count: int


def recall(scores: Scores, originals: np.ndarray, kinds: Sequence[str]) -> tuple[float, dict[str, Recall]]:
    """The threshold (best distractor score) and recall overall (key ``all``) and per kind."""
    threshold = scores.distractors.max() if scores.distractors.size else -np.inf
    rows = np.arange(len(originals))
    right = scores.queries[rows, originals]
    others = scores.queries.copy()
    others[rows, originals] = -np.inf
    first = right > others.max(axis=1)
    flagged = first & (right > threshold)
    kinds = np.asarray(kinds)
    result = {"all": Recall(float(first.mean()), float(flagged.mean()), len(rows))}
    for kind in dict.fromkeys(kinds):
        mask = kinds == kind
        result[kind] = Recall(float(first[mask].mean()), float(flagged[mask].mean()), int(mask.sum()))
    return float(threshold), result


# --- 3. the descriptors -------------------------------------------------------------------------


def embed_through_sql(folder: Path, options: Mapping[str, str]) -> dict[Path, np.ndarray]:
    """``SELECT path, embed_image(image) FROM images`` over ``folder`` in a Flink batch job."""
    from udfs.catalog import create_images_table
    from udfs.settings import configure, table_environment

    t_env = configure(table_environment("batch"), overrides=dict(options))
    create_images_table(t_env, folder)
    with t_env.execute_sql("SELECT path, embed_image(image) FROM images").collect() as rows:
        vectors = {Path(path): vector for path, vector in rows}
    missing = [path for path, vector in vectors.items() if vector is None]
    if missing:
        raise RuntimeError(f"embed_image gave NULL for {len(missing)} files, e.g. {missing[0]}")
    return {path: np.asarray(vector, np.float32) for path, vector in vectors.items()}


def phash(files: Sequence[Path]) -> dict[Path, np.ndarray]:
    """64-bit perceptual hashes (``imagehash.phash``, 8x8 DCT of a 32x32 grey image), as bools."""
    try:
        import imagehash
        from PIL import Image
    except ImportError:
        raise SystemExit("pHash needs imagehash: pip install -e .[bench] (or pass --no-phash)") from None
    hashes = {}
    for path in files:
        with Image.open(path) as image:
            hashes[path] = imagehash.phash(image).hash.flatten()
    return hashes


# --- the report ---------------------------------------------------------------------------------


def evaluate(benchmark: Benchmark, descriptors: Mapping[Path, np.ndarray],
             scores: Callable[[np.ndarray, np.ndarray, np.ndarray], Scores]) -> dict:
    def stack(paths: Sequence[Path]) -> np.ndarray:
        return np.stack([descriptors[path] for path in paths])

    query_paths = [path for path, _, _ in benchmark.queries]
    threshold, results = recall(
        scores(stack(benchmark.indexed), stack(query_paths), stack(benchmark.distractors)),
        np.array([original for _, _, original in benchmark.queries]),
        [kind for _, kind, _ in benchmark.queries],
    )
    return {"threshold": threshold,
            "recall": {kind: vars(value) for kind, value in results.items()}}


def markdown(report: dict) -> str:
    methods = report["methods"]
    header = "| alteration | queries | " + " | ".join(
        f"{name} recall@1 | {name} recall, no distractor" for name in methods) + " |"
    lines = [header, "|" + "---|" * (2 + 2 * len(methods))]
    kinds = next(iter(methods.values()))["recall"]
    for kind in kinds:
        cells = [f"**{kind}**" if kind == "all" else kind, str(kinds[kind]["count"])]
        for result in methods.values():
            value = result["recall"][kind]
            cells += [f"{value['at_1']:.3f}", f"{value['at_threshold']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    thresholds = "; ".join(f"{name}: {describe_threshold(name, result['threshold'])}"
                           for name, result in methods.items())
    return "\n".join(lines) + f"\n\nThresholds (the best any distractor reaches): {thresholds}.\n"


def describe_threshold(name: str, value: float) -> str:
    return f"Hamming distance < {-value:.0f} of 64 bits" if name == "pHash" else f"cosine > {value:.4f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.near_duplicates", description=__doc__.splitlines()[0])
    parser.add_argument("--indexed", type=int, default=250, help="photos stored (each gives a query per alteration)")
    parser.add_argument("--distractors", type=int, default=150, help="photos only ever queried, never stored")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--work", type=Path, help="folder for the altered files (default: a temp dir)")
    parser.add_argument("--no-phash", action="store_true", help="skip perceptual hashing")
    parser.add_argument("-D", dest="options", action="append", default=[], metavar="KEY=VALUE",
                        help="classify.* or Flink option for the embedding job")
    args = parser.parse_args(argv)
    from udfs.config_file import parse_key_values

    options = parse_key_values(args.options)
    split = split_photos(args.indexed, args.distractors, args.seed)
    with tempfile.TemporaryDirectory(prefix="near_duplicates.") as temp:
        folder = args.work or Path(temp)
        benchmark = write_benchmark(split, folder, args.seed)
        print(f"{len(benchmark.indexed)} stored photos, {len(benchmark.queries)} altered copies, "
              f"{len(benchmark.distractors)} distractors, in {folder}", file=sys.stderr)
        started = time.perf_counter()
        embeddings = embed_through_sql(folder, options)
        seconds = time.perf_counter() - started
        methods = {"embedding": evaluate(benchmark, embeddings, cosine_scores)}
        if not args.no_phash:
            methods["pHash"] = evaluate(benchmark, phash(benchmark.files), hamming_scores)
    report = {"indexed": len(benchmark.indexed), "queries": len(benchmark.queries),
              "distractors": len(benchmark.distractors), "held_out": len(split.held_out), "seed": args.seed,
              "options": options, "embedding_job_seconds": round(seconds, 1), "machine": machine(),
              "methods": methods}
    table = markdown(report)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "near_duplicates.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / "near_duplicates.md").write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
