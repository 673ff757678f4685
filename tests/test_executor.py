"""The executor's resume policy, in process (composed configs, no subprocess)."""

from omegaconf import OmegaConf

from aibench.executor import graph_hash


def test_resume_hash_leaves_out_the_schema_s_transport_fields(compose):
    def hashed(*overrides):
        return graph_hash(OmegaConf.to_container(compose(["model=ollama/llama3", *overrides]), resolve=True))

    base = hashed()
    # how samples are fetched (schema fields marked transport): the same samples, a run may resume
    assert hashed("model.concurrency=9", "model.host=http://gpu:11434", "model.stream=false") == base
    # what the samples are: another config
    assert hashed("model.temperature=0.9") != base
    assert hashed("model.num_ctx=8192") != base
