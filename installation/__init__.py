"""The gallery daemon: exhibit config, cameras, recognition, presence, the director, the audio engine,
the soundscape cache, live generation, the scheduler, health and the ``art2mus`` CLI."""
