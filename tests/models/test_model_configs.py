"""Every YAML under conf/model/{ollama,openai,hf} composes against its schema and instantiates;
typos fail at compose time; importing the backend modules stays cheap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate

REPO = Path(__file__).resolve().parents[2]
FILES = sorted(
    f"{p.parent.name}/{p.stem}"
    for d in ("ollama", "openai", "hf")
    for p in (REPO / "conf" / "model" / d).glob("*.yaml")
)
CLASSES = {"ollama": "OllamaModel", "openai": "OpenAICompatModel", "hf": "HFModel"}


def test_the_ready_files_exist():
    for name in (
        "ollama/llama3",
        "ollama/codellama",
        "ollama/qwen2.5-coder",
        "ollama/deepseek-coder",
        "ollama/starcoder2",
        "ollama/base",
        "openai/base",
        "hf/base",
    ):
        assert name in FILES


@pytest.mark.parametrize("option", FILES)
def test_model_file_composes_and_instantiates(compose_model, option):
    cfg = compose_model([f"model={option}", "model.name=some-model", "model.cache_dir=null"])
    m = instantiate(cfg.model)  # constructors make no request
    assert type(m).__name__ == CLASSES[option.split("/")[0]]
    assert m.name == f"{m.backend}/some-model"
    assert m.params()["seed"] == 0  # ${run.seed}
    assert "{prompt}" in cfg.model.user_template


def test_llama3_defaults(compose_model):
    cfg = compose_model(["model=ollama/llama3"])
    assert cfg.model.name == "llama3" and cfg.model.chat is True and cfg.model.num_ctx == 4096
    assert cfg.model.cache_dir == "outputs/cache" and cfg.model.host is None


@pytest.mark.parametrize("bad", ["model.temprature=1", "model.num_ctx=big", "model.concurrency=x"])
def test_typos_and_wrong_types_fail_at_compose_time(compose_model, bad):
    with pytest.raises(ConfigCompositionException):
        compose_model(["model=ollama/llama3", bad])


def test_importing_backends_imports_no_heavy_library():
    code = (
        "import sys, aibench.models.ollama, aibench.models.openai_compat, aibench.models.hf, "
        "aibench.models.sampling, aibench.models.cache, aibench.models.http, aibench.models.chat, "
        "aibench.harnesses.extraction\n"
        "print(sorted(m for m in ('requests', 'urllib3', 'torch', 'transformers', 'sqlite3') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["/nonexistent/model", "./models/missing", "~/no-such-model"])
def test_a_local_hf_model_path_that_does_not_exist_is_one_line_before_torch_loads(name):
    """Before: transformers' "Repo id must use alphanumeric chars..." after ~6 s of importing torch."""
    from aibench.errors import AibenchError
    from aibench.models.hf import HFModel

    with pytest.raises(AibenchError) as err:
        HFModel(name=name, device="cpu", cache_dir=None)
    message = str(err.value)
    assert "\n" not in message and f"model.name={name}: no such directory" in message
