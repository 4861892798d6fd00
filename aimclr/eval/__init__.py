"""Evaluation protocols: kNN, linear probe, fine-tuning, score fusion.

What the AimCLR reference does (spec §6) and what this module mirrors:

* **kNN** (:func:`knn_predict`): the ``knn_monitor`` of SimSiam (Chen and He, CVPR
  2021, [arXiv:2011.10566](https://arxiv.org/abs/2011.10566)) the authors used —
  L2-normalised features, cosine similarity, the ``k = 200`` most similar
  training samples vote with weight ``exp(sim / 0.1)``. ``k = 1`` is plain
  nearest-neighbour classification.
* **Linear probe** (:func:`linear_evaluation`): frozen encoder kept in eval mode
  (BatchNorm uses its pre-training statistics), a linear classifier on the pooled
  features, SGD lr 3.0, momentum 0.9, no weight decay, x0.1 after epoch 80, 100
  epochs, batch 128. The reference reports the **best** test top-1 over its
  evaluations (every 5 epochs); :class:`EvalResult` holds both best and last.
* **Fine-tuning** (:func:`finetune`): all parameters train, the model stays in
  eval mode (as the reference), SGD lr 0.01, weight decay 1e-4.
  :func:`semi_supervised_finetune` trains on a class-balanced label subset with
  Nesterov momentum and gradient clipping at norm 2, as the reference's compiled
  ``semi_evaluation``.
* **Fusion** (:func:`fuse_scores`): weighted sum of raw logits, joint 0.6,
  bone 0.6, motion 0.4.
* **Baseline** (:func:`raw_1nn_accuracy`): Euclidean 1-NN on the raw
  coordinates, what a classifier gets without any learning.

Accuracies are fractions in ``[0, 1]``. Data arguments accept a dataset of
``(x, label)`` pairs or an ``(x, labels)`` tuple of tensors, with ``x`` shaped
``(N, C, T, V, M)``.

The names below are defined in the submodules :mod:`aimclr.eval.features`,
:mod:`aimclr.eval.knn`, :mod:`aimclr.eval.metrics`, :mod:`aimclr.eval.classifiers`,
:mod:`aimclr.eval.protocols` and :mod:`aimclr.eval.baselines`, and imported here.
"""

from aimclr.eval.baselines import euclidean_1nn_accuracy, raw_1nn_accuracy
from aimclr.eval.classifiers import EncoderClassifier, LinearProbe
from aimclr.eval.features import extract_features
from aimclr.eval.knn import knn_accuracy, knn_predict, knn_scores
from aimclr.eval.metrics import DEFAULT_FUSION_WEIGHTS, fuse_scores, topk_accuracy
from aimclr.eval.protocols import (
    EvalResult,
    finetune,
    linear_evaluation,
    semi_supervised_finetune,
)

__all__ = [
    "DEFAULT_FUSION_WEIGHTS",
    "EncoderClassifier",
    "EvalResult",
    "LinearProbe",
    "euclidean_1nn_accuracy",
    "extract_features",
    "finetune",
    "fuse_scores",
    "knn_accuracy",
    "knn_predict",
    "knn_scores",
    "linear_evaluation",
    "raw_1nn_accuracy",
    "semi_supervised_finetune",
    "topk_accuracy",
]
