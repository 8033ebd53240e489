"""One typed configuration for every job, read from YAML or TOML and overridden by CLI flags.

Precedence: defaults < ``--config FILE`` < explicit CLI flags.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from router_core.embedder import EmbedderKind
from router_core.text import DEFAULT_MESSAGES_POLICY, MessagesPolicy
from schemas.logs import LogColumns


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LogsConfig(_Strict):
    format: Literal["auto", "parquet", "jsonl", "json", "openai_batch", "anthropic_batch", "csv"] = Field(
        "auto", description="auto: by file extension, then content (router_core.log_formats)"
    )
    columns: LogColumns = Field(default_factory=LogColumns)
    text_source: Literal["auto", "prompt", "messages"] = "auto"
    messages_policy: MessagesPolicy = Field(
        DEFAULT_MESSAGES_POLICY, description="which turns of a chat are routed"
    )
    max_chars: int = Field(32_000, gt=0, description="prompts longer than this are truncated or quarantined")
    on_too_long: Literal["truncate", "quarantine"] = "truncate"


class EmbedderConfig(_Strict):
    kind: EmbedderKind = Field(
        "minilm",
        description="minilm: bundled MiniLM (fp32 ONNX Runtime on CPU, torch on GPU); minilm_int8: the same, "
        "int8 ONNX (CPU, faster, other vectors)",
    )
    batch_size: int = Field(64, gt=0)
    max_length: int = Field(256, gt=0, description="tokens per prompt fed to the bundled embedder")
    # openai backend
    model: str = "text-embedding-3-small"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"

    def kwargs(self) -> dict[str, Any]:
        if self.kind == "minilm":
            return {"batch_size": self.batch_size, "max_length": self.max_length}
        if self.kind == "minilm_int8":  # one prompt per call, see router_core/onnx_embedder.py
            return {"max_length": self.max_length}
        return {
            "model": self.model,
            "base_url": self.base_url,
            "api_key_env": self.api_key_env,
            "batch_size": self.batch_size,
        }


class SparkConfig(_Strict):
    master: str = Field("local[*]", description="Spark master URL; local[*] needs no cluster")
    app_name: str = "batch-router"
    arrow_batch_rows: int = Field(1000, gt=0)
    partitions: int | None = Field(None, description="default: 2 x cores for local masters")
    show_progress: bool = False
    extra_conf: dict[str, str] = Field(default_factory=dict)


class LabelConfig(_Strict):
    """OpenAI-compatible API used by ``label judge --endpoint`` and ``batch submit/collect``."""

    base_url: str | None = Field(None, description="API base URL, e.g. https://api.openai.com/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the API key")
    judge_model: str = "gpt-4o"


class DispatchConfig(_Strict):
    """The names route's dispatch lines send the router's models under (``route --dispatch-model``)."""

    models: dict[str, str] = Field(
        default_factory=dict, description="model -> name in body.model, e.g. an Azure OpenAI deployment"
    )


class JobConfig(_Strict):
    logs: LogsConfig = Field(default_factory=LogsConfig)
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    spark: SparkConfig = Field(default_factory=SparkConfig)
    label: LabelConfig = Field(default_factory=LabelConfig)
    dispatch: DispatchConfig = Field(default_factory=DispatchConfig)


def read_config_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"config file not found: {p}")
    text = p.read_text()
    if p.suffix in (".toml",):
        return tomllib.loads(text)
    return yaml.safe_load(text) or {}


def _set_dotted(d: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = value


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> JobConfig:
    """Defaults, then the file, then ``overrides`` given as {"section.key": value}; None values skip."""
    data: dict[str, Any] = dict(read_config_file(path)) if path else {}
    # One file serves every command: train reads (and checks) its own section (jobs/train_cmd.TrainConfig)
    data.pop("train", None)
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, dotted, value)
    return JobConfig.model_validate(data)
