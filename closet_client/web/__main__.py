"""Run the demo page: `python -m closet_client.web [--host H] [--port P] [--api URL] [--max-request-size B]`.

Defaults come from config/closet.yaml (server.bind, server.web_port, the local inference port,
server.max_request_size) and the repo's openapi/closet.yaml. A deployment passes all of them (the Helm chart
does), and then no config file is read.
"""

from __future__ import annotations

import argparse
import logging
import sys


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m closet_client.web", description=__doc__.splitlines()[0])
    ap.add_argument("--host", help="address to bind (default: server.bind)")
    ap.add_argument("--port", type=int, help="port (default: server.web_port)")
    ap.add_argument("--api", help="the inference API (default: http://127.0.0.1:<server.inference_port>)")
    ap.add_argument("--max-request-size", type=int, help="bytes; the API's own limit (default: server.max_request_size)")
    ap.add_argument("--openapi", help="the API contract the option controls come from (default: openapi/closet.yaml)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per API request (default 300)")
    return ap


def with_config_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Fill what the command line left out from config/closet.yaml (one source per setting)."""
    if None in (args.host, args.port, args.api, args.max_request_size, args.openapi):
        from closet import config as closet_config

        s = closet_config.load().server
        args.host = args.host or s.bind
        args.port = args.port or s.web_port
        args.api = args.api or f"http://127.0.0.1:{s.inference_port}"
        args.max_request_size = args.max_request_size or s.max_request_size
        args.openapi = args.openapi or str(closet_config.REPO_ROOT / "openapi" / "closet.yaml")
    return args


def main(argv: list[str] | None = None) -> int:
    args = with_config_defaults(build_parser().parse_args(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    import uvicorn

    from closet_client.web.app import create_app

    app = create_app(args.api, args.max_request_size, args.openapi, timeout=args.timeout)
    logging.getLogger(__name__).info("demo page on http://%s:%d/ -> API %s", args.host, args.port, args.api)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", proxy_headers=False, server_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
