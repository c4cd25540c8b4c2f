"""The demo web page: a Starlette app that serves a static page and forwards swaps to the inference API.

The browser talks only to this app (no CORS, no TorchServe port in the page); the app is a client of
the API like any other (closet_client.ClosetClient). Run it with `python -m closet_client.web`.
"""

from closet_client.web.app import create_app

__all__ = ["create_app"]
