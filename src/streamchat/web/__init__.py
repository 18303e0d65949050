"""The HTTP surfaces: :func:`streamchat.web.app.create_app` builds the ASGI app."""
