"""From camera to a stable decision: camera sources (:mod:`.sources`), the frame grabber thread
(:mod:`.grabber`), artwork recognition by local features and a geometric check (:mod:`.recognition`),
visitor presence (:mod:`.presence`), dwell/hold debounce (:mod:`.debounce`), joined per frame by
:mod:`.pipeline`; :mod:`.watch` runs a pipeline over an image, a video or a camera outside the daemon."""
