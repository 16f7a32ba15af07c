"""swa.precision (issue 21, items 7 and 8): one scope whose "fp32" is full float32 for training, evaluation,
sharpness and Hessian work; it sets and restores PyTorch's TF32 switches through one API, never mixing the new
``fp32_precision`` API with the legacy ``allow_tf32`` flags, and restores them exactly."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import swa.precision as P
from swa.precision import precision_scope, tf32_state

NEW_API = pytest.mark.skipif(not P.HAS_FP32_PRECISION_API, reason="torch without the fp32_precision API (< 2.9)")
_SWITCHES = [name for name, _ in P._NEW] if P.HAS_FP32_PRECISION_API else []


def _new_state():
    return {name: get().fp32_precision for name, get in P._NEW}


@pytest.fixture(autouse=True)
def pristine():
    """Every test starts from PyTorch's defaults and leaves them as they were (the switches are process-wide)."""
    matmul = torch.get_float32_matmul_precision()
    new = _new_state() if P.HAS_FP32_PRECISION_API else None
    legacy_cudnn = torch.backends.cudnn.allow_tf32
    yield
    # The legacy setters first (they set the legacy values and the new switches consistently), then the new switches.
    torch.set_float32_matmul_precision(matmul)
    torch.backends.cudnn.allow_tf32 = legacy_cudnn
    if new is not None:
        for name, get in P._NEW:
            get().fp32_precision = new[name]
    assert _legacy_flags() == (matmul != "highest", legacy_cudnn, matmul)  # back to a state without a mix


def _legacy_flags():
    """The legacy flags; raises PyTorch's "mix of the legacy and new APIs" error in a mixed state."""
    return (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
            torch.get_float32_matmul_precision())


@NEW_API
def test_new_api_set_first_is_restored_exactly():
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    torch.backends.cudnn.conv.fp32_precision = "tf32"
    torch.backends.cudnn.rnn.fp32_precision = "ieee"
    torch.backends.mkldnn.matmul.fp32_precision = "bf16"
    before = _new_state()
    with precision_scope("cuda", "fp32"):
        inside = _new_state()
    assert inside == dict.fromkeys(_SWITCHES, "ieee")
    assert _new_state() == before
    with precision_scope("cpu", "tf32"):
        inside = _new_state()
    assert inside == {"cuda.matmul": "tf32", "cudnn.conv": "tf32", "cudnn.rnn": "tf32", "mkldnn.matmul": "ieee",
                      "mkldnn.conv": "ieee", "mkldnn.rnn": "ieee"}
    assert _new_state() == before


@NEW_API
def test_legacy_set_first_reads_back_after_the_scope():
    """The user set the legacy flags; after the scope they read back (no mixed-API error) with their values."""
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = False
    before = _legacy_flags()
    assert before == (True, False, "high")
    for precision in ("fp32", "tf32"):
        with precision_scope("cuda", precision):
            assert tf32_state()["cuda.matmul"] == ("ieee" if precision == "fp32" else "tf32")
        assert _legacy_flags() == before


@NEW_API
def test_pristine_state_reads_back_after_the_scope():
    before = _legacy_flags(), _new_state()
    with precision_scope("cuda", "fp32"):
        pass
    assert (_legacy_flags(), _new_state()) == before


@NEW_API
def test_medium_stays_medium():
    """The legacy restore turned "medium" into "high"; the scope gives back "medium" (and its bf16 oneDNN matmul)."""
    torch.set_float32_matmul_precision("medium")
    before = _new_state()
    assert before["mkldnn.matmul"] == "bf16"
    with precision_scope("cpu", "fp32"):
        assert tf32_state()["mkldnn.matmul"] == "ieee"  # full float32 on the CPU too
    assert torch.get_float32_matmul_precision() == "medium"
    assert _new_state() == before
    assert torch.backends.cuda.matmul.allow_tf32  # readable: no mixed state left behind


@pytest.mark.parametrize("first", ["legacy", "medium"])
def test_legacy_api_path(monkeypatch, first):
    """A torch without the new API: only the legacy switches are read and written, and "medium" comes back."""
    monkeypatch.setattr(P, "HAS_FP32_PRECISION_API", False)
    if first == "medium":
        torch.set_float32_matmul_precision("medium")
    else:
        torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = False
    before = _legacy_flags()
    with precision_scope("cuda", "fp32"):
        assert _legacy_flags() == (False, False, "highest")
    assert _legacy_flags() == before
    with precision_scope("cuda", "tf32"):
        assert _legacy_flags() == (True, True, "high")
    assert _legacy_flags() == before


def test_restored_after_an_error():
    before = tf32_state()
    with pytest.raises(KeyError):
        with precision_scope("cpu", "fp32"):
            raise KeyError("boom")
    assert tf32_state() == before


def test_bf16_autocasts_and_leaves_the_switches():
    before = tf32_state()
    with precision_scope("cpu", "bf16"):
        assert tf32_state() == before
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16


def test_unknown_precision_refused():
    with pytest.raises(ValueError, match="precision must be one of fp32, tf32, bf16, got 'fp16'"):
        with precision_scope("cpu", "fp16"):
            pass


# --------------------------------------------------------------- who runs inside the scope
def _tf32_everywhere():
    """Switch TF32 on as a user's script might, so that a pass inside the fp32 scope is told apart."""
    if P.HAS_FP32_PRECISION_API:
        for name, get in P._CUDA:
            get().fp32_precision = "tf32"
    else:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    return tf32_state()


FULL_FP32 = (dict(dict.fromkeys(_SWITCHES, "ieee")) if P.HAS_FP32_PRECISION_API
             else {"float32_matmul_precision": "highest", "cudnn.allow_tf32": False})


def test_training_and_its_evaluation_run_in_full_fp32(monkeypatch, tmp_path):
    import swa.evaluation
    import swa.trainer
    from support import digits_config

    seen = {"train": [], "eval": []}
    train_loss, eval_loss = swa.trainer.batch_loss, swa.evaluation.batch_loss

    def probe(kind, fn):
        def wrapped(*args, **kwargs):
            seen[kind].append(tf32_state())
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(swa.trainer, "batch_loss", probe("train", train_loss))
    monkeypatch.setattr(swa.evaluation, "batch_loss", probe("eval", eval_loss))
    before = _tf32_everywhere()
    assert before != FULL_FP32
    swa.trainer.train(digits_config(tmp_path / "run", width=2, epochs=1, batch_size=512), progress=False)
    assert seen["train"] and seen["eval"]
    assert all(s == FULL_FP32 for s in seen["train"] + seen["eval"])
    assert tf32_state() == before


TF32_ON = (dict(dict.fromkeys(_SWITCHES, "ieee"), **{name: "tf32" for name, _ in P._CUDA})
           if P.HAS_FP32_PRECISION_API else {"float32_matmul_precision": "high", "cudnn.allow_tf32": True})


@pytest.mark.parametrize("precision, expected", [("tf32", TF32_ON), ("bf16", FULL_FP32)])
def test_training_runs_at_its_precision(monkeypatch, small_config, precision, expected):
    """One vocabulary: training at ``tf32`` turns TF32 on for its passes and evaluations (and off again after);
    ``bf16`` keeps TF32 off and, on a CPU, autocasts nothing (training's bf16 is CUDA-only)."""
    import swa.evaluation
    import swa.trainer

    seen = []
    real_train, real_eval = swa.trainer.batch_loss, swa.evaluation.batch_loss

    def probe(fn):
        def wrapped(outputs, *args, **kwargs):
            seen.append((tf32_state(), outputs.dtype))
            return fn(outputs, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(swa.trainer, "batch_loss", probe(real_train))
    monkeypatch.setattr(swa.evaluation, "batch_loss", probe(real_eval))
    before = tf32_state()
    swa.trainer.train(small_config(width=2, epochs=1, batch_size=512, precision=precision), progress=False)
    assert seen and all(state == expected and dtype == torch.float32 for state, dtype in seen)
    assert tf32_state() == before


def test_evaluate_alone_runs_in_full_fp32(monkeypatch):
    import swa.evaluation

    seen = []
    real = swa.evaluation.batch_loss
    monkeypatch.setattr(swa.evaluation, "batch_loss", lambda *a, **k: seen.append(tf32_state()) or real(*a, **k))
    before = _tf32_everywhere()
    swa.evaluation.evaluate(nn.Linear(3, 2), torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 1]), "classification")
    assert seen == [FULL_FP32] and tf32_state() == before


def _objective():
    from landscape.curvature.objective import ModelObjective

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2))
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    return model, (x, y), ModelObjective(model, (x, y), model.state_dict(), bn_recompute=True)


def test_hessian_products_and_directions_run_in_full_fp32(monkeypatch):
    from landscape.curvature.objective import ModelObjective
    from landscape.compute.directions import hessian_plane

    seen = []
    real_hvp = ModelObjective.hvp
    monkeypatch.setattr(ModelObjective, "hvp", lambda self, v, w=None: seen.append(tf32_state()) or real_hvp(self, v, w))
    _, _, obj = _objective()
    before = _tf32_everywhere()
    dirs = hessian_plane(obj, tol=1e-3)
    assert dirs.directions.shape == (2, obj.num_params)
    assert seen and all(s == FULL_FP32 for s in seen)
    assert tf32_state() == before


def test_objective_bn_recompute_runs_in_full_fp32(monkeypatch):
    import landscape.engine.session

    seen = []
    real = landscape.engine.session.update_bn_exact
    monkeypatch.setattr(landscape.engine.session, "update_bn_exact",
                        lambda *a, **k: seen.append(tf32_state()) or real(*a, **k))
    before = _tf32_everywhere()
    _objective()
    assert seen == [FULL_FP32] and tf32_state() == before


def test_sharpness_runs_in_full_fp32(monkeypatch):
    import landscape
    from landscape.curvature.objective import ModelObjective

    seen = []
    real_value = ModelObjective.value
    monkeypatch.setattr(ModelObjective, "value", lambda self, w=None: seen.append(tf32_state()) or real_value(self, w))
    model, data, _ = _objective()
    before = _tf32_everywhere()
    res = landscape.sharpness(model, [model.state_dict()], data, metrics="average",
                              settings=landscape.Settings(device="cpu", progress=False, log=lambda _m: None),
                              mc_samples=2)
    assert len(res) == 1
    assert seen and all(s == FULL_FP32 for s in seen)
    assert tf32_state() == before
