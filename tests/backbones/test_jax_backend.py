"""Every backbone, the FP loss and the ranking metric run under the JAX backend
(in the one JAX subprocess of the ``jax_backend_checks`` fixture)."""


def test_forward_under_jax_backend(jax_backend_checks):
    out = jax_backend_checks
    assert sorted(out["forward"]) == ["gru4rec", "narm", "srgnn", "stamp"]
    for name, (shape, module, padding_leak) in out["forward"].items():
        assert shape == [3, 8] and module.startswith("jax"), (name, shape, module)
        assert padding_leak < 1e-5, (name, padding_leak)
    for aggregation in ("mean", "adaptive"):
        term, dtype = out["loss_" + aggregation]
        assert term >= 0.0 and dtype == "float32"
    assert 0.0 <= out["metric"] <= 100.0
