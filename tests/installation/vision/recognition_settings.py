"""The recognizer settings the recognition tests' accuracy figures were set with.

More lenient than the demo exhibit's (``ratio_test`` 0.75, ``keep_inliers`` 10, ``accept_inliers`` 15),
whose accuracy ``benchmarks/bench_recognition.py`` measures.
"""

from art2mus.installation.config.vision import RecognitionConfig

TUNED = RecognitionConfig(ratio_test=0.85, keep_inliers=8, accept_inliers=12)
