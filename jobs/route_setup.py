"""The route job's options, and what it checks and settles on the driver before Spark starts: the router
and the prices of its models, the embedder settings the router implies, the CPU embedder's ONNX file,
the embedding cache directory and the endpoint keys. Bad input found here is one ``RouteError`` line
before any Spark task runs, not a failure in every task.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.config import JobConfig
from router_core.route_decision import RoutePolicy, route_models


class RouteError(ValueError):
    """Bad input detected before or during routing; the CLI prints it on one line and exits 2."""


@dataclass(frozen=True)
class RouteOptions:
    router: str
    logs: str
    out: str
    policy: RoutePolicy | None = None  # None: strong share 0.5 for a pair router
    date: str | None = None
    cache: str | None = None  # default <out>/_embedding_cache
    prices: str | None = None
    batch_discount: bool = False
    ignore_known_prompts: bool = False
    # router model -> the name dispatch lines send it under (an Azure OpenAI deployment name, say)
    dispatch_models: dict[str, str] = field(default_factory=dict)


def log(msg: str) -> None:
    print(f"[route] {msg}", flush=True)


def check_out_dir(opts: RouteOptions) -> None:
    """--out and --cache outside the logs (a later run would read the outputs or the cached vectors as
    log rows) and outside the router."""
    given = {"--out": opts.out, "--cache": opts.cache, "--logs": opts.logs, "--router": opts.router}
    if any("://" in p for p in given.values() if p):  # cluster URIs: not compared here
        return
    why = {
        "--logs": "a later run would read the {what} as log rows",
        "--router": "training that router again replaces its directory as a whole",
    }
    for name, what in (("--out", "outputs"), ("--cache", "cached vectors")):
        if given[name] is None:
            continue
        path = Path(os.path.realpath(given[name]))
        for flag in ("--logs", "--router"):
            if path.is_relative_to(os.path.realpath(given[flag])):
                raise RouteError(
                    f"{name} {given[name]} is inside {flag} {given[flag]} ({why[flag].format(what=what)}): "
                    f"give {name} a directory of its own"
                )


def load_router_and_prices(opts: RouteOptions):
    """Driver-side checks before Spark starts: router artefact, prices of all its models."""
    from router_core.pricing import PriceTable
    from router_core.router import Router

    if not Path(opts.router).is_dir():
        raise RouteError(f"router directory not found: {opts.router}")
    try:
        router = Router.load(opts.router, scorers=False)  # the executors score; the driver decides
    except (OSError, ValueError, KeyError, RuntimeError) as exc:  # RouterLoadError is a RuntimeError
        raise RouteError(f"cannot load router {opts.router}: {exc}") from None
    prices = PriceTable.load(opts.prices, batch_discount=opts.batch_discount)
    prices.require(route_models(router))
    check_dispatch_models(opts.dispatch_models, route_models(router))
    return router, prices


def check_dispatch_models(names: dict[str, str], models: list[str]) -> None:
    """--dispatch-model MODEL=NAME names a model of the router and a name: a typo would otherwise send
    that model's requests under its own name, which the deployment-named endpoint refuses."""
    for model, name in names.items():
        if model not in models:
            raise RouteError(f"--dispatch-model {model}={name}: '{model}' is not a model of the router "
                             f"({', '.join(models)})")  # fmt: skip
        if not name:
            raise RouteError(f"--dispatch-model {model}=: give the name to send {model}'s requests under")


def apply_router_defaults(cfg: JobConfig, router: Any) -> None:
    """What the router recorded at training decides what the config leaves open, so routing sees the
    same text and the same vectors as training:
    - chats are reduced by the router's ``messages_policy`` unless --messages-policy or the config file
      chose one (a manifest without one keeps the default);
    - prompts are embedded with the router's embedder settings (kind; max_length, or endpoint model and
      base_url) unless the config chose them, and a chosen setting that cannot reproduce the router's
      vectors is an error here, before Spark, not a failure in every task; so is a missing endpoint key
      on a local master, whose workers inherit this process's environment."""
    from router_core.embedder import embedder_kind_for_id, embedder_settings_for_id
    from router_core.text import MESSAGES_POLICIES

    trained_policy = router.manifest.get("messages_policy")  # None where the manifest does not record it
    if "messages_policy" not in cfg.logs.model_fields_set and trained_policy in MESSAGES_POLICIES:
        cfg.logs.messages_policy = trained_policy
    try:
        settings = embedder_settings_for_id(router.embedder_id)
    except ValueError:  # an embedder id without recorded settings: only its kind can be checked
        settings = {"kind": embedder_kind_for_id(router.embedder_id)}
    settings.pop("dim", None)  # not a config setting: the endpoint reports it
    for name, value in settings.items():
        if name not in cfg.embedder.model_fields_set:
            setattr(cfg.embedder, name, value)
        elif getattr(cfg.embedder, name) != value:
            raise RouteError(
                f"the config's embedder.{name} {getattr(cfg.embedder, name)!r} cannot reproduce the router's "
                f"embeddings ('{router.embedder_id}', {name} {value!r}): drop embedder.{name} or re-train "
                "the router"
            )
    kind = cfg.embedder.kind
    key_env = cfg.embedder.api_key_env
    if kind == "openai" and _key_missing(cfg, key_env):
        raise RouteError(
            f"the router embeds prompts with an endpoint ('{router.embedder_id}') and {key_env} is not set: "
            f"export {key_env} (or set embedder.api_key_env to the variable that holds the key)"
        )


def embedder_conf(cfg: JobConfig, router: Any) -> dict[str, Any]:
    """The embedder settings the score UDF loads: the config's, in torch for a router with BERT (which
    shares the embedder's transformer pass there: udfs/score_udf.py)."""
    conf = {"kind": cfg.embedder.kind, **cfg.embedder.kwargs()}
    if conf["kind"] == "minilm" and "bert" in router.scorer_names:
        conf["backend"] = "torch"
    return conf


def build_onnx_model(conf: dict[str, Any]) -> None:
    """Build the ONNX file of the CPU embedder ``conf`` names here once (a no-op where it exists or where
    it embeds in torch): local workers then only load it, instead of each building it at once. For int8
    a failure is one error before Spark, not one per task; the fp32 one falls back to torch."""
    from router_core.onnx_embedder import onnx_model

    kind = conf["kind"]
    if kind not in ("minilm", "minilm_int8") or conf.get("backend") == "torch":
        return
    try:
        onnx_model(max_length=conf["max_length"], precision="int8" if kind == "minilm_int8" else "fp32")
    except Exception as exc:  # noqa: BLE001 - fp32 falls back to torch; int8 has no fallback
        if kind != "minilm_int8":
            log(f"the ONNX Runtime embedder cannot be built ({exc}); the workers embed with torch")
        elif isinstance(exc, RuntimeError):
            raise RouteError(f"cannot load the int8 embedder: {exc}") from None
        else:
            raise


def check_cache_dir(cache: Path | None) -> None:
    """A --cache that is a file or cannot be made or written is one error before Spark, not a trace
    after the whole batch was embedded (the default, under --out, is made with the outputs). Nothing is
    created here: the directory, or the nearest of its parents that exists, is checked."""
    if cache is None:
        return
    existing = next(p for p in (cache, *cache.parents) if p.exists())
    if not existing.is_dir():
        problem = "it is a file" if existing == cache else f"{existing} is a file"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable"
    else:
        return
    raise RouteError(f"cannot use {cache} as the embedding cache (--cache): {problem}")


def _key_missing(cfg: JobConfig, env: str) -> bool:
    """On a local master the workers inherit this process's environment: a key neither exported here
    nor given as a Spark executor variable is missing for them too."""
    return (
        cfg.spark.master.startswith("local")
        and not os.environ.get(env)
        and f"spark.executorEnv.{env}" not in cfg.spark.extra_conf
    )


def check_scorer_keys(cfg: JobConfig, router: Any) -> None:
    """A scorer that calls an endpoint (llm) reads its key from the environment variable it names: on a
    local master the workers inherit this process's environment, so a missing key is one error here."""
    # the manifest's parameters: the driver loads the router without its scorers (Router.load(scorers=False))
    for entry in router.manifest.get("scorers", []):
        name, env = entry["name"], (entry.get("params") or {}).get("api_key_env")
        if env and _key_missing(cfg, env):
            raise RouteError(
                f"the router's {name} scorer calls an endpoint with the key in {env}, which is not set: "
                f"export {env}"
            )
