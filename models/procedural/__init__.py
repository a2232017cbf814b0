"""The procedural sonifier: a deterministic, weight-free generator that turns an image into a loop.

It is the demo's generator, the bridge while a live Art2Mus generation runs and the fallback when the
GPU or the model fails, so it needs nothing but numpy, scipy and OpenCV, and renders a minute of stereo
48 kHz audio in well under a second of one CPU core.

Pipeline: :func:`analyse_image` (:mod:`.analysis`) -> :func:`plan_music` (:mod:`.mapping`) ->
:func:`~.synthesis.render_plan` (:mod:`.synthesis`, :mod:`.instruments`, :mod:`.reverb`) ->
:func:`~.mastering.normalise_loudness` (:mod:`.mastering`), all behind :class:`ProceduralGenerator`.
:mod:`.measures` holds the loop-seam and audio-descriptor measurements used by tests and benchmarks.

The musical mapping
-------------------

Features are measured on the image resized to 256 px (colour in CIE L*a*b*); "rescaled" means mapped
from the range artworks typically span to 0..1 (lightness 0.2-0.8, saturation 0.15-0.75, contrast
0.2-0.8, edge density 0-0.5, texture 0.1-0.7). "busy" is 0.65 x edges + 0.35 x texture (rescaled).

| image feature | musical parameter | how |
| --- | --- | --- |
| hue of the mean colour (L*a*b*) | key (tonic) | Scriabin's colour circle: red = C, each 30 degrees of hue one step round the circle of fifths (orange G, yellow D, green A, cyan E, blue F#...); near-grey images get a hue from lightness |
| lightness + warmth | mode | darkest to brightest: phrygian, aeolian, dorian, mixolydian, ionian, lydian (0.6 x lightness + 0.4 x warmth) |
| lightness, vertical centre of visual weight | register | drone on the tonic nearest MIDI 38-50, chords voiced upwards from MIDI 50-60, melody centred on MIDI 64-78; weight low in the frame pulls everything down |
| palette (5 dominant colours, k-means in L*a*b*) | chords | each secondary colour's hue relative to the main colour places a chord on the circle of fifths (nearest consonant triad of the mode); near-grey colours by lightness (lighter = sharper) |
| colour variety (expected delta E between palette colours) | harmonic movement | 1 to 4 chords per cycle; also the bed's level |
| saturation | harmonic richness and timbre | triads -> sevenths -> ninths; brighter partial roll-off of drone and bed; FM index (attack brightness) of the melody |
| warmth (red/orange/yellow vs blue/cyan) | melodic instrument, room | warm: mallet (FM 1:1, harmonic); cool: glass bell (FM 1:3.5, inharmonic); warm rooms damp their highs more |
| edge density + texture ("busy") | tempo and rhythmic density | 48-96 BPM; 0.5-4 melody notes per bar; shorter notes; shorter, drier reverb (T60 5 s -> 1.5 s) |
| texture (fine detail) | texture layer | sparkles (0.2-5 per second, shorter when finer), air-noise level and bandwidth, pad shimmer (PADsynth bandwidth) |
| contrast | dynamics | melody level over the pad, velocity spread, melodic range (span), depth of the drone's swell |
| column lightness, left to right | melodic contour | the loop scans the image left to right; brighter columns -> higher notes (snapped to chord tones on beats) |
| column edge energy, left to right | melodic rhythm | notes fall where the image is busy; strong beats favoured more when the horizontal rhythm is regular |
| horizontal rhythm regularity, symmetry | metre, grid | irregular and asymmetric -> 3/4, otherwise 4/4; regular images snap sparkles to sixteenths |
| horizontal centre of weight, spread | stereo placement | melody panned towards the weight and drifting with the scan; width of the bed and the sparkles |
| symmetry | drone width | symmetric images get a narrower, centred drone |
| lightness | air-noise colour | band centre 250 Hz (dark) to 4 kHz (light) |

The seed changes only what the image leaves open: the order of the chords after the tonic, which
beats carry melody notes (the number is the image's), small melodic deviations, sparkle positions and
pitches, and the random phases of the pads and the noise. Key, mode, tempo, register, timbre and
density stay, so two seeds of one image sound like two performances of one piece.

Loops: every layer lives on a circular timeline the length of the loop (pads and noise are made as
spectra of exactly that length, notes that ring past the end continue at the start, LFOs make whole
cycles, the reverb is a circular convolution), so the seam is not crossfaded after the fact: it does
not exist. The loop point is placed in a calm spot -- mid-chord, in the trough of the swell and the
gusts, with no note starting within a beat of it -- and the sustained layers are time-symmetric about
it, so it is never the biggest change in the piece.
"""

from art2mus.models.procedural.analysis import ImageFeatures, analyse_image
from art2mus.models.procedural.generator import ProceduralGenerator
from art2mus.models.procedural.mapping import MusicalPlan, plan_music

__all__ = ["ImageFeatures", "MusicalPlan", "ProceduralGenerator", "analyse_image", "plan_music"]
