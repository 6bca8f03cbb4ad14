"""B9's peer: FastAPI relaying a chat completion from an OpenAI-compatible provider as
server-sent events, with the `openai` client, the way their docs show (one `AsyncOpenAI` for the
app, `stream=True`, a `StreamingResponse` yielding each chunk).

    B9_PROVIDER_URL=http://127.0.0.1:8100/v1 B9_PROVIDER_KEY=sk-... \
        python -m bench.peers.fastapi_tutor --port 8083

POST /v1/ask {"question": "...", "max_tokens": 500} answers `text/event-stream`: every chunk the
provider sent, re-serialised (`data: <chunk JSON>`), then `data: [DONE]`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from openai import AsyncOpenAI
from pydantic import BaseModel

app = FastAPI()
client = AsyncOpenAI(
    base_url=os.environ.get("B9_PROVIDER_URL", "http://127.0.0.1:8100/v1"),
    api_key=os.environ.get("B9_PROVIDER_KEY", "sk-none"),
)


class Ask(BaseModel):
    question: str
    max_tokens: int = 500


@app.post("/v1/ask")
async def ask(body: Ask) -> StreamingResponse:
    stream = await client.chat.completions.create(
        model="fake-chat",
        messages=[{"role": "user", "content": body.question}],
        max_tokens=body.max_tokens,
        stream=True,
    )

    async def relay() -> AsyncIterator[str]:
        async for chunk in stream:
            yield f"data: {chunk.model_dump_json()}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(relay(), media_type="text/event-stream")


@app.get("/healthz", response_model=None)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app, host=args.host, port=args.port, loop="uvloop", http="httptools", log_level="warning"
    )


if __name__ == "__main__":
    main()
