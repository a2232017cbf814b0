"""The procedural sonifier (placeholder docstring; the mapping table follows)."""

from art2mus.models.procedural.analysis import ImageFeatures, analyse_image
from art2mus.models.procedural.generator import ProceduralGenerator
from art2mus.models.procedural.mapping import MusicalPlan, plan_music

__all__ = ["ImageFeatures", "MusicalPlan", "ProceduralGenerator", "analyse_image", "plan_music"]
