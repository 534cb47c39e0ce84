"""The do-nothing peer of the single-PUT benchmark: an aiohttp server (uvloop, no access log,
as ``statuslist serve`` runs) whose ``PUT /v1/lists/{list_id}/entries/{idx}`` reads and parses
the JSON body and answers a small JSON document, touching nothing else. It is the framework's
own ceiling for that request.

    python3 -m benchmarks.put_peer PORT
"""

from __future__ import annotations

import json
import sys

import uvloop
from aiohttp import web


async def put(request: web.Request) -> web.Response:
    doc = json.loads(await request.read())
    idx = int(request.match_info["idx"])
    body = json.dumps({"idx": idx, "status": 1, "name": doc["status"]})
    return web.Response(text=body, content_type="application/json")


def main() -> None:
    app = web.Application()
    app.router.add_put("/v1/lists/{list_id}/entries/{idx}", put)
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
