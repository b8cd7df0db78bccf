"""The second, independent MCP client of tests/mcp.test.mjs: PyPI `mcp` (the Python SDK).

usage: mcp_client.py <mcp url> <api key> <post id in reach> <post id out of reach>

Connects twice, as the SDK's `Client` does by default (`mode="auto"`: probe `server/discover`,
the 2026-07-28 per-request shape) and with the `initialize` handshake (`mode="legacy"`); each
time lists the tools and calls three. Prints one JSON array, a summary per connection.
"""

import asyncio
import json
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def summary(result):
    return {
        "isError": bool(result.is_error),
        "structured": result.structured_content,
        "text": result.content[0].text if result.content else None,
    }


async def run(url, key, mode, post, foreign_post):
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        tools = await client.list_tools()
        got = await client.call_tool("posts.get", {"postId": post})
        refused = await client.call_tool("posts.get", {"postId": foreign_post})
        listed = await client.call_tool("posts.list", {"limit": 200})
        return {
            "mode": mode,
            "version": client.session.protocol_version,
            "tools": [t.name for t in tools.tools],
            "get": summary(got),
            "refused": summary(refused),
            "list": summary(listed),
        }


async def main(url, key, post, foreign_post):
    runs = [await run(url, key, mode, post, foreign_post) for mode in ("auto", "legacy")]
    print(json.dumps(runs))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
