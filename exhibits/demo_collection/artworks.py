"""The eight demo artworks and a supply of other generated paintings (distractors, benchmark indexes).

The demo artworks are committed as PNG files in ``exhibits/demo/artworks/<id>.png``; a test checks that
the committed pixels equal what :func:`render_demo_artwork` draws, so the files are reproducible
assets, not hand-made data. Regenerate them with ``python -m art2mus.exhibits.demo_collection``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from art2mus.exhibits.demo_collection.painting import STYLES, render_painting

logger = logging.getLogger(__name__)

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class DemoArtwork:
    """One procedurally painted demo artwork.

    Attributes:
        id: slug (lowercase letters, digits and '-'), also the PNG's file stem.
        title, artist, year: wall-label text (the artists are invented).
        style: a key of :data:`~art2mus.exhibits.demo_collection.painting.STYLES`.
        seed: the painting's random seed.
        width, height: size of the PNG in pixels.
    """

    id: str
    title: str
    artist: str
    year: int
    style: str
    seed: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if not _SLUG.match(self.id):
            raise ValueError(f"demo artwork id {self.id!r} is not a slug (lowercase letters, digits, '-')")
        if self.style not in STYLES:
            raise ValueError(f"demo artwork {self.id!r}: unknown style {self.style!r}")


DEMO_ARTWORKS: tuple[DemoArtwork, ...] = (
    DemoArtwork("amber-fields", "Amber Fields at Dusk", "Ilse Marrow", 1961, "colour-field", 1011, 640, 800),
    DemoArtwork("composition-with-signals", "Composition with Signals", "Teodor Kandel", 1928, "geometric", 2027, 800, 640),
    DemoArtwork("hills-of-orvale", "The Hills of Orvale", "Margit Solyom", 1884, "landscape", 3041, 800, 560),
    DemoArtwork("evening-regatta", "Evening Regatta", "Joaquim Alves Mar", 1902, "seascape", 4057, 800, 520),
    DemoArtwork("night-over-the-village", "Night over the Village", "Vincent Aubrac", 1889, "night-sky", 5077, 800, 600),
    DemoArtwork("portrait-of-a-clerk", "Portrait of a Young Clerk", "Anna Weiland", 1923, "portrait", 6089, 600, 800),
    DemoArtwork("city-at-six", "The City at Six O'Clock", "Harold Benn", 1954, "city-grid", 7103, 800, 600),
    DemoArtwork("still-life-with-flowers", "Still Life with Flowers and Fruit", "Clara van Heemst", 1652,
                "floral-still-life", 8117, 640, 800),
)


def demo_artwork(artwork_id: str) -> DemoArtwork:
    """The entry of :data:`DEMO_ARTWORKS` with this id (``KeyError`` naming the known ids otherwise)."""
    for art in DEMO_ARTWORKS:
        if art.id == artwork_id:
            return art
    raise KeyError(f"no demo artwork {artwork_id!r}; known: {[a.id for a in DEMO_ARTWORKS]}")


def render_demo_artwork(artwork: DemoArtwork | str) -> np.ndarray:
    """Draw a demo artwork; BGR uint8 ``(height, width, 3)``, identical on every run."""
    art = demo_artwork(artwork) if isinstance(artwork, str) else artwork
    return render_painting(art.style, art.seed, art.width, art.height)


def demo_exhibit_dir() -> Path:
    """The demo exhibit folder (``exhibits/demo`` in a checkout, ``art2mus/exhibits/demo`` in a wheel)."""
    return Path(__file__).resolve().parents[1] / "demo"


def demo_artwork_path(artwork: DemoArtwork | str, artworks_dir: Path | None = None) -> Path:
    """Where a demo artwork's PNG lives (``<artworks_dir>/<id>.png``)."""
    art_id = artwork if isinstance(artwork, str) else artwork.id
    return (artworks_dir or demo_exhibit_dir() / "artworks") / f"{art_id}.png"


def write_demo_artworks(artworks_dir: Path | None = None) -> list[Path]:
    """Render every demo artwork into ``artworks_dir`` (default: the demo exhibit's ``artworks/``) as PNG.

    Returns the written paths in :data:`DEMO_ARTWORKS` order.
    """
    out_dir = artworks_dir or demo_exhibit_dir() / "artworks"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for art in DEMO_ARTWORKS:
        path = demo_artwork_path(art, out_dir)
        if not cv2.imwrite(str(path), render_demo_artwork(art), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise OSError(f"could not write {path}")
        logger.info("wrote %s", path)
        paths.append(path)
    return paths


@dataclass(frozen=True)
class GeneratedArtwork:
    """A painting that is not in the demo exhibit: a distractor or a filler for benchmark indexes.

    Attributes:
        id: ``gen-<seed>-<n>-<style>``.
        style: the painting style it shares with one of the demo artworks.
        image: BGR uint8 ``(height, width, 3)``.
    """

    id: str
    style: str
    image: np.ndarray


def render_generated_artworks(count: int, seed: int = 0, long_side: int = 800) -> list[GeneratedArtwork]:
    """``count`` further paintings in the demo styles (cycling through them), from ``seed``.

    Their seeds are drawn from ``SeedSequence((seed, n, 1))`` tuples, which never equal the integer
    seeds of the demo artworks, so a generated painting is a *similar* painting, never a copy. The long
    side is ``long_side`` pixels, the aspect ratio varies between 3:4 and 16:10.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if long_side < 200:
        raise ValueError(f"long_side must be >= 200 pixels, got {long_side}")
    styles = list(STYLES)
    aspect_rng = np.random.default_rng(np.random.SeedSequence((seed, 0xA5)))
    out = []
    for n in range(count):
        style = styles[n % len(styles)]
        ratio = float(aspect_rng.uniform(0.62, 0.8))
        short = int(round(long_side * ratio))
        w, h = (long_side, short) if aspect_rng.random() < 0.6 else (short, long_side)
        image = render_painting(style, (seed, n, 1), w, h)
        out.append(GeneratedArtwork(f"gen-{seed}-{n}-{style}", style, image))
    return out
