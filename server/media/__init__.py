"""The media gateway: the only place where the server runs WebRTC peers (aiortc).

aiortc is never in the path of a normal call (those go browser to browser); it serves the
pre-call check (``server.media.precheck``) and, later, consented recording.
"""
