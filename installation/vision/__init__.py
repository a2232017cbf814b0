"""From camera frames to "artwork X is in front of the camera".

- :mod:`.sources`, :mod:`.grabber`: cameras and video files; the newest frame, reconnecting.
- :mod:`.index`: the recognition index (local features of every reference photo, stored beside the exhibit).
- :mod:`.recognizer`: which indexed artwork a frame shows (FLANN search, ratio test, RANSAC outline).
- :mod:`.tracking`: the cheap tests between recognitions (a still picture; the chosen artwork followed by
  optical flow).
- :mod:`.presence`, :mod:`.debounce`: visitor presence; dwell, hold and hysteresis over results.
- :mod:`.pipeline`: all of the above for one camera, from the exhibit's ``recognition:`` and ``presence:``.
- :mod:`.watch`: a pipeline over an image, a video or a camera outside the daemon (``art2mus recognize``).
"""
