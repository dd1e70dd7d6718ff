"""Reference: the smallest possible fdk function (no SDK)."""

import io

from fdk import response


def handler(ctx, data: io.BytesIO | None = None):
    return response.Response(ctx, response_data='{"ok": true}', headers={"Content-Type": "application/json"})
