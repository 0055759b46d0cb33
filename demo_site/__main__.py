"""Run the demo shop: ``python -m demo_site --port 8090 --widget-url URL --site KEY``."""

from __future__ import annotations

import argparse

from aiohttp import web

from demo_site.app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo_site", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument(
        "--widget-url", default="http://127.0.0.1:8080", help="the Porchlight server's origin"
    )
    parser.add_argument("--site", required=True, help="the site key from the Porchlight admin")
    args = parser.parse_args(argv)
    web.run_app(create_app(args.widget_url, args.site), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
