"""The tutorial design, as a baseline: a small Flask app whose ``POST /stream-chat`` calls the
``openai`` SDK with ``stream=True`` and yields each ``delta.content`` as raw text under
``text/event-stream``, served by Flask's threaded development server.

It is written the way the tutorial writes it (one global client, a generator per request, no
error handling); only the upstream base URL, key and port come from the command line.

    .venv/bin/python -m bench.tutorial_app --port 5000 --base-url http://127.0.0.1:9000/v1
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from flask import Flask, Response, request
from openai import OpenAI

MODEL = "gpt-4o-mini"


def create_app(base_url: str, api_key: str) -> Flask:
    app = Flask(__name__)
    client = OpenAI(base_url=base_url, api_key=api_key)

    @app.post("/stream-chat")
    def stream_chat() -> Response:
        message = request.get_json()["message"]

        def generate() -> Iterator[str]:
            stream = client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": message}],
                stream=True,
            )
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content

        return Response(generate(), mimetype="text/event-stream")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", default="sk-bench-0000000000")
    args = parser.parse_args()
    create_app(args.base_url, args.api_key).run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
