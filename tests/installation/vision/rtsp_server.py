"""An RTSP camera for the tests: GStreamer's RTSP server (Debian: gir1.2-gst-rtsp-server-1.0, python3-gi,
gstreamer1.0-plugins-good) serving a folder of JPEG frames in a loop as Motion-JPEG over RTP.

Run with the system Python that has ``gi``: ``/usr/bin/python3 rtsp_server.py PORT FRAMES_DIR FPS``; it
prints ``ready rtsp://127.0.0.1:PORT/walk`` once it listens and serves until killed.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

port, frames, fps = sys.argv[1], sys.argv[2], int(sys.argv[3])
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f'( multifilesrc location="{frames}/%04d.jpg" loop=true caps="image/jpeg,framerate={fps}/1" '
    "! jpegparse ! rtpjpegpay name=pay0 pt=26 )"
)
factory.set_shared(True)
server.get_mount_points().add_factory("/walk", factory)
if server.attach(None) == 0:
    sys.exit(f"cannot listen on 127.0.0.1:{port}")
print(f"ready rtsp://127.0.0.1:{server.get_bound_port()}/walk", flush=True)
GLib.MainLoop().run()
