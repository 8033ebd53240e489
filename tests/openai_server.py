"""A real OpenAI-compatible HTTP server for the tests, on 127.0.0.1 in a thread: chat completions (with
deterministic answers and judge verdicts), files and batches endpoints, and fault injection (429, 500,
timeouts, truncated JSON, slow responses) keyed on each request body, so a run is reproducible.

Answers carry a ``[quality N]`` tag; the judge compares the tags of the two answers it is shown.
Prompts containing ``HARD`` are answered well by the strong model only; prompts containing ``BIASED`` get a
position-biased judge (always Assistant A); ``GARBLED`` gets a judge answer without a verdict. In a batch,
a request line containing ``FAILBATCH`` always fails with 500, ``INVALID`` with 400, ``FLAKY`` with 500 the
first time only; ``expire_after=k`` makes the next batch expire after answering k lines.

The ``llm`` scorer's routing question (router_core.scorers.llm_prompt) is answered Yes (the weak model is
as good) with probability ``routing_p_yes``: 0.1 for HARD prompts, else 0.8. With ``logprobs=True`` (the
default) a request asking for logprobs gets them for its one answer token; with ``logprobs=False`` the
server ignores that and answers ``n`` verdicts, the first round(p x n) Yes; GARBLED prompts get "Maybe".
``scripted_faults``: every body's attempts 1, 2, ... fail with these faults in turn, then it succeeds.
A ``timeout`` fault sends nothing until the client gives up and closes the connection (or 504 after
``timeout_delay_s``), so it outlasts any client timeout however slow the machine: give clients a timeout
far above a normal call's time. ``hold_after=k``: every chat answer after the k-th is counted as answered
but not sent until ``release`` is set, so a test can act while the calls in flight wait for their answers.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import select
import threading
import time
from collections import Counter
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("429", "500", "timeout", "truncated", "slow")


def body_key(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


class FakeOpenAI:
    def __init__(
        self,
        strong: str = "strong-model",
        fault_every: int = 0,
        timeout_delay_s: float = 60.0,
        slow_delay_s: float = 0.1,
        polls_to_complete: int = 2,
        logprobs: bool = True,
        scripted_faults: tuple[str, ...] = (),
    ) -> None:
        self.strong = strong
        self.fault_every = fault_every  # 0: no faults; k: about 1 body in k fails its first attempt
        self.timeout_delay_s = timeout_delay_s
        self.slow_delay_s = slow_delay_s
        self.polls_to_complete = polls_to_complete
        self.logprobs = logprobs
        self.scripted_faults = scripted_faults
        self.chat_bodies: list[dict[str, Any]] = []  # every chat request received, in arrival order
        self.lock = threading.RLock()
        self.attempts: Counter[str] = Counter()  # chat requests received, by body
        self.answered: Counter[str] = Counter()  # complete 200 answers delivered, by body
        self.faults_sent: Counter[str] = Counter()
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.polls: Counter[str] = Counter()
        self.api_keys: set[str] = set()
        self.required_key: str | None = None  # set: chat calls with another key get 401
        self.hold_after: int | None = None  # set: chat answers after this many wait for `release`
        self.release = threading.Event()
        self.chat_answers = 0  # chat calls answered 200, for hold_after
        self.fail_batches = 0  # the next k batches to finish fail as a whole (an enqueued-token limit)
        self.expire_after: int | None = None  # set: the next batch to finish expires after k requests
        self.batch_attempts: Counter[str] = Counter()  # batch request lines processed, by body
        self.httpd: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        fake = self

        class Handler(_Handler):
            server_state = fake

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    # ------------------------------------------------------------------ behaviour

    def fault_for(self, key: str, attempt: int) -> str | None:
        """The k-th distinct body to arrive fails its first attempt when k % fault_every == 0, cycling
        through every kind of fault (so each kind occurs whatever order concurrent calls arrive in)."""
        if attempt <= len(self.scripted_faults):
            return self.scripted_faults[attempt - 1]
        if not self.fault_every or attempt != 1:
            return None
        k = len(self.attempts) - 1
        return FAULTS[(k // self.fault_every) % len(FAULTS)] if k % self.fault_every == 0 else None

    def quality(self, model: str, prompt: str) -> int:
        if "HARD" in prompt:
            return 9 if model == self.strong else 2
        return 5

    @staticmethod
    def routing_p_yes(question: str) -> float:
        m = re.search(r"<<<\n(.*)\n>>>", question, flags=re.S)
        return 0.1 if "HARD" in (m.group(1) if m else question) else 0.8

    def routing_choices(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The routing question's answers: one token with logprobs, or ``n`` sampled verdicts."""
        question = str(body["messages"][-1].get("content", ""))
        p = self.routing_p_yes(question)
        if body.get("logprobs") and self.logprobs:
            top = [("Yes", 0.9 * p), (" yes", 0.1 * p), ("No", 1 - p), ("Maybe", 1e-4)]
            top_lp = [{"token": t, "logprob": math.log(q), "bytes": None} for t, q in top]
            word = "Yes" if p >= 0.5 else "No"
            lp = {"content": [{"token": word, "logprob": math.log(max(p, 1 - p)), "bytes": None,
                               "top_logprobs": top_lp[: int(body.get("top_logprobs") or 1)]}]}  # fmt: skip
            msg = {"role": "assistant", "content": word}
            return [{"index": 0, "message": msg, "finish_reason": "length", "logprobs": lp}]
        n = int(body.get("n") or 1)
        n_yes = round(p * n)
        words = ["Maybe" if "GARBLED" in question else "Yes" if i < n_yes else "No" for i in range(n)]
        return [
            {"index": i, "message": {"role": "assistant", "content": w}, "finish_reason": "stop"}
            for i, w in enumerate(words)
        ]

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages") or []
        text = " ".join(str(m.get("content", "")) for m in messages)
        model = str(body.get("model"))
        if messages and "help route user prompts" in str(messages[0].get("content", "")):
            choices = self.routing_choices(body)
            return {"id": "chatcmpl-" + body_key(body), "object": "chat.completion",
                    "created": 1_700_000_000, "model": model, "choices": choices,
                    "usage": {"prompt_tokens": len(text.split()), "completion_tokens": len(choices),
                              "total_tokens": len(text.split()) + len(choices)}}  # fmt: skip
        if messages and "impartial judge" in str(messages[0].get("content", "")):
            content = self.verdict(str(messages[-1].get("content", "")))
        else:
            user = next((str(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
            content = f"{model} answers '{user[:40]}' [quality {self.quality(model, user)}]"
        return {
            "id": "chatcmpl-" + body_key(body),
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": len(text.split()),
                "completion_tokens": len(content.split()),
                "total_tokens": len(text.split()) + len(content.split()),
            },
        }

    @staticmethod
    def verdict(user: str) -> str:
        if "GARBLED" in user:
            return "Both answers have merits and I cannot decide."
        if "BIASED" in user:
            return "Assistant A is clearly better. [[A]]"
        qa, qb = (int(q) for q in re.findall(r"\[quality (\d+)\]", user)[:2])
        v = "[[A]]" if qa > qb else "[[B]]" if qb > qa else "[[C]]"
        return f"The format asks for [[A]], [[B]] or [[C]]. Comparing: A={qa}, B={qb}. Final verdict: {v}"

    def process_batch(self, batch: dict[str, Any]) -> None:
        lines = self.files[batch["input_file_id"]]["content"].decode().splitlines()
        if self.fail_batches:
            self.fail_batches -= 1
            error = {"code": "token_limit_exceeded", "message": "Enqueued token limit reached", "line": None}
            batch.update(status="failed", errors={"object": "list", "data": [error]})
            batch["request_counts"] = {"total": len(lines), "completed": 0, "failed": 0}
            return
        out, err = [], []
        expire_after, self.expire_after = self.expire_after, None
        for k, raw in enumerate(lines):
            req = json.loads(raw)
            body = req["body"]
            if expire_after is not None and k >= expire_after:
                err.append({"id": "r", "custom_id": req["custom_id"], "response": None,
                            "error": {"code": "batch_expired", "message": "expired"}})  # fmt: skip
                continue
            self.batch_attempts[body_key(body)] += 1
            status = self.line_fault(json.dumps(body), self.batch_attempts[body_key(body)])
            if status is not None:
                message = "server error" if status == 500 else "invalid request"
                err.append({"id": "r", "custom_id": req["custom_id"], "response": {"status_code": status,
                            "body": {"error": {"message": message}}}, "error": None})  # fmt: skip
                continue
            with self.lock:
                self.answered[body_key(body)] += 1
            resp = {"status_code": 200, "request_id": "req", "body": self.completion(body)}
            out.append({"id": "r", "custom_id": req["custom_id"], "response": resp, "error": None})
        batch["output_file_id"] = self.add_file(out, "batch_output") if out else None
        batch["error_file_id"] = self.add_file(err, "batch_output") if err else None
        batch["status"] = "completed" if expire_after is None else "expired"
        batch["request_counts"] = {"total": len(lines), "completed": len(out), "failed": len(err)}

    @staticmethod
    def line_fault(body: str, attempt: int) -> int | None:
        """The HTTP status a batch request line fails with: FAILBATCH always 500, INVALID always 400,
        FLAKY 500 the first time its body is in a batch."""
        if "FAILBATCH" in body or ("FLAKY" in body and attempt == 1):
            return 500
        return 400 if "INVALID" in body else None

    def add_file(self, content: list[dict] | bytes, purpose: str, filename: str = "out.jsonl") -> str:
        if not isinstance(content, bytes):
            content = "".join(json.dumps(x) + "\n" for x in content).encode()
        data = content
        fid = f"file-{len(self.files) + 1}"
        meta = {"id": fid, "object": "file", "bytes": len(data), "created_at": 1_700_000_000}
        meta.update(filename=filename, purpose=purpose, status="processed")
        self.files[fid] = {**meta, "content": data}
        return fid

    def batches_created_for(self, content: bytes) -> int:
        ids = {f for f, v in self.files.items() if v["content"] == content}
        return sum(1 for b in self.batches.values() if b["input_file_id"] in ids)


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet test output
        pass

    def _send(self, code: int, payload: Any, raw: bytes | None = None, headers: dict | None = None) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _wait_for_hang_up(self, limit_s: float) -> None:
        """Returns when the client closes the connection (its timeout) or after ``limit_s``: a client sends
        nothing more before its answer, so the socket turns readable only when it closes."""
        select.select([self.connection], [], [], limit_s)

    def _auth(self) -> None:
        self.server_state.api_keys.add(self.headers.get("Authorization", ""))

    def do_POST(self) -> None:  # noqa: N802
        self._auth()
        s = self.server_state
        if self.path.endswith("/chat/completions"):
            return self._chat(json.loads(self._body()))
        if self.path.endswith("/files"):
            raw = self._body()
            msg = BytesParser(policy=email_policy).parsebytes(
                b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + raw
            )
            fields = {p.get_param("name", header="content-disposition"): p for p in msg.iter_parts()}
            part = fields["file"]
            with s.lock:
                fid = s.add_file(part.get_payload(decode=True), fields["purpose"].get_content().strip(),
                                 part.get_filename() or "upload.jsonl")  # fmt: skip
            return self._send(200, {k: v for k, v in s.files[fid].items() if k != "content"})
        if self.path.endswith("/batches"):
            req = json.loads(self._body())
            with s.lock:
                bid = f"batch_{len(s.batches) + 1}"
                s.batches[bid] = {"id": bid, "object": "batch", "endpoint": req["endpoint"],
                                  "input_file_id": req["input_file_id"], "completion_window": "24h",
                                  "status": "validating", "created_at": 1_700_000_000 + len(s.batches),
                                  "metadata": req.get("metadata"), "output_file_id": None,
                                  "error_file_id": None, "request_counts": None}  # fmt: skip
            return self._send(200, s.batches[bid])
        self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_GET(self) -> None:  # noqa: N802
        self._auth()
        s = self.server_state
        path = self.path.split("?")[0]
        m = re.search(r"/files/([^/]+)/content$", path)
        if m:
            f = s.files.get(m.group(1))
            if f is None:
                return self._send(404, {"error": {"message": "no file"}})
            return self._send(200, None, raw=f["content"])
        m = re.search(r"/batches/([^/]+)$", path)
        if m:
            b = s.batches.get(m.group(1))
            if b is None:
                return self._send(404, {"error": {"message": "no batch"}})
            with s.lock:
                s.polls[b["id"]] += 1
                if b["status"] not in ("completed", "failed"):
                    b["status"] = "in_progress"
                    if s.polls[b["id"]] >= s.polls_to_complete:
                        s.process_batch(b)
            return self._send(200, b)
        if path.endswith("/batches"):
            data = sorted(s.batches.values(), key=lambda b: -b["created_at"])
            return self._send(200, {"object": "list", "data": data, "has_more": False})
        self._send(404, {"error": {"message": f"no route {self.path}"}})

    def _chat(self, body: dict[str, Any]) -> None:
        s = self.server_state
        if s.required_key and self.headers.get("Authorization") != f"Bearer {s.required_key}":
            return self._send(401, {"error": {"message": "Incorrect API key provided"}})
        key = body_key(body)
        with s.lock:
            s.chat_bodies.append(body)
            s.attempts[key] += 1
            fault = s.fault_for(key, s.attempts[key])
            if fault:
                s.faults_sent[fault] += 1
        if fault == "429":
            return self._send(429, {"error": {"message": "rate limited"}}, headers={"Retry-After": "0"})
        if fault == "500":
            return self._send(500, {"error": {"message": "internal error"}})
        if fault == "timeout":
            self._wait_for_hang_up(s.timeout_delay_s)
            return self._send(504, {"error": {"message": "too late"}})
        if fault == "truncated":
            return self._send(200, None, raw=json.dumps(s.completion(body)).encode()[:40])
        if fault == "slow":
            time.sleep(s.slow_delay_s)
        with s.lock:
            s.answered[key] += 1
            held = s.hold_after is not None and s.chat_answers >= s.hold_after
            s.chat_answers += 1
        if held:  # answered (paid for), not delivered yet
            s.release.wait(timeout=120)
        self._send(200, s.completion(body))
