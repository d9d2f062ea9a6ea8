"""The learned answerer: the shipped model, what it does on the seed, and that the
training script reproduces it."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from newsqa import NewsQA
from newsqa.answering import AnswerModel, ModelError
from newsqa.features import QUESTION_FEATURES, SENTENCE_FEATURES
from newsqa.settings import Settings

from .conftest import ROOT, shared_data

MODEL = ROOT / "src" / "newsqa" / "answerer.json"


def test_shipped_model_is_small_and_matches_the_features() -> None:
    assert MODEL.stat().st_size < 5_000_000
    model = AnswerModel.load()
    assert model.sentence.mean.shape == (len(SENTENCE_FEATURES),)
    assert model.answerable.mean.shape == (len(QUESTION_FEATURES),)
    assert 0.0 < model.threshold < 1.0
    assert 0.0 < model.keep_within <= 1.0
    # Its validation figures travel with it, so the choices can be traced.
    assert "validation" in model.info and model.info["trained_by"]


def test_a_model_for_other_features_is_refused(tmp_path: Path) -> None:
    data = json.loads(MODEL.read_text())
    data["sentence_features"] = [*data["sentence_features"], "something_new"]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="retrain"):
        AnswerModel.load(path)
    with pytest.raises(ModelError, match="cannot read"):
        AnswerModel.load(tmp_path / "missing.json")


def test_probabilities_are_monotone_in_the_logit() -> None:
    model = AnswerModel.load()
    probs = [model.probability(x) for x in np.linspace(-6, 6, 25)]
    assert all(b >= a for a, b in itertools.pairwise(probs))
    assert 0.0 <= probs[0] < probs[-1] <= 1.0


@pytest.mark.slow
def test_answers_carry_a_calibrated_confidence(seeded_qa: NewsQA) -> None:
    answered = seeded_qa.ask("What did Peskov say?")
    assert answered.answerable and answered.confidence is not None
    assert answered.confidence >= seeded_qa.answerer("extractive").min_confidence  # type: ignore[attr-defined]
    assert answered.to_dict()["confidence"] == answered.confidence
    refused = seeded_qa.ask("Who won the 2022 football World Cup?")
    assert not refused.answerable
    assert refused.confidence is not None and refused.confidence < answered.confidence


@pytest.mark.slow
def test_a_stricter_threshold_refuses_what_a_looser_one_answers(tmp_path: Path) -> None:
    from .conftest import SEEDS

    loose = NewsQA(Settings(data_dir=tmp_path / "lib", min_confidence=0.0))
    loose.ingest([SEEDS])
    answer = loose.ask("What did Peskov say?")
    assert answer.answerable
    strict = NewsQA(Settings(data_dir=tmp_path / "lib", min_confidence=1.0))
    assert not strict.ask("What did Peskov say?").answerable


@pytest.mark.slow
def test_training_reproduces_the_shipped_model() -> None:
    """`train_answerer.py --check` retrains from the external sets (about 15 minutes
    from scratch on two cores, a minute with the cached stores and features) and
    exits 0 when its model makes the same choices as the shipped one."""
    shared_data("realtimeqa_dev")
    pytest.importorskip("sklearn")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "train_answerer.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
