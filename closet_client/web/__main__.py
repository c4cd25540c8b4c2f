"""Run the demo page: `python -m closet_client.web [--host H] [--port P] [--api URL]`.

Defaults come from config/closet.yaml: server.bind, server.web_port, the local inference port, and the
upload limit server.max_request_size. The Helm chart passes its own (`--host 0.0.0.0 --api http://<service>`).
"""

from __future__ import annotations

import argparse
import logging
import sys

from closet import config as closet_config


def main(argv: list[str] | None = None) -> int:
    cfg = closet_config.load()
    s = cfg.server
    ap = argparse.ArgumentParser(prog="python -m closet_client.web", description=__doc__.splitlines()[0])
    ap.add_argument("--host", default=s.bind)
    ap.add_argument("--port", type=int, default=s.web_port)
    ap.add_argument("--api", default=f"http://127.0.0.1:{s.inference_port}", help="the inference API")
    ap.add_argument("--max-request-size", type=int, default=s.max_request_size,
                    help="bytes; must equal the API's (default: server.max_request_size)")
    ap.add_argument("--openapi", default=str(closet_config.REPO_ROOT / "openapi" / "closet.yaml"),
                    help="the API contract the option controls are read from")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per API request")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    import uvicorn

    from closet_client.web.app import create_app

    app = create_app(args.api, args.max_request_size, args.openapi, timeout=args.timeout)
    logging.getLogger(__name__).info("demo page on http://%s:%d/ -> API %s", args.host, args.port, args.api)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", proxy_headers=False, server_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
