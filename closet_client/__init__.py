"""closet_client: a Python client, the `closet` CLI and the demo web page for closet's inference API.

Not part of the TorchServe worker (closet/): nothing here is packed into a MAR.
"""

from closet_client.client import ApiError, ClosetClient, Description, SwapResult
from closet_client.messages import explain

__all__ = ["ApiError", "ClosetClient", "Description", "SwapResult", "explain"]
