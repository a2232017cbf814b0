"""Artwork recognition, by its old address: the index lives in :mod:`.index`, matching in :mod:`.recognizer`.

Kept so that callers outside ``vision/`` (the ``recognize`` command) go on importing while they move to
the two modules; new code imports from those.
"""

from art2mus.installation.vision.index import (
    INDEX_FILENAME,
    FeatureSettings,
    RecognitionIndex,
    ReferencePhoto,
    references_from_exhibit,
    references_from_pairs,
)
from art2mus.installation.vision.recognizer import (
    ArtworkRecognizer,
    CandidatePrefilter,
    GeometryLimits,
    RecognitionResult,
    outline_problem,
)

__all__ = [
    "INDEX_FILENAME",
    "ArtworkRecognizer",
    "CandidatePrefilter",
    "FeatureSettings",
    "GeometryLimits",
    "RecognitionIndex",
    "RecognitionResult",
    "ReferencePhoto",
    "outline_problem",
    "references_from_exhibit",
    "references_from_pairs",
]
