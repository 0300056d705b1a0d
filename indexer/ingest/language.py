"""Language identification with langdetect, deterministic across processes."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Detection", "detect"]

UNDETERMINED = "und"
# langdetect's cost grows with the text, its accuracy stops growing long before:
# the first few thousand characters decide.
_SAMPLE_CHARS = 4000


@dataclass(frozen=True, slots=True)
class Detection:
    language: str
    probability: float
    runner_up: str | None = None


_factory = None


def _get_factory():  # type: ignore[no-untyped-def]
    global _factory
    if _factory is None:
        from langdetect import DetectorFactory, detector_factory

        DetectorFactory.seed = 0  # langdetect is random by design; fix it per process
        detector_factory.init_factory()
        _factory = detector_factory._factory
    return _factory


def detect(
    text: str, min_chars: int = 20, min_probability: float = 0.7, allowed: tuple[str, ...] = ()
) -> Detection:
    sample = text[:_SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < min_chars:
        return Detection(UNDETERMINED, 0.0)
    from langdetect.lang_detect_exception import LangDetectException

    detector = _get_factory().create()
    detector.append(sample)
    try:
        ranked = detector.get_probabilities()
    except LangDetectException:
        return Detection(UNDETERMINED, 0.0)
    if not ranked:
        return Detection(UNDETERMINED, 0.0)
    top = ranked[0]
    runner_up = ranked[1].lang if len(ranked) > 1 else None
    if top.prob < min_probability or (allowed and top.lang not in allowed):
        return Detection(UNDETERMINED, round(top.prob, 4), top.lang)
    return Detection(top.lang, round(top.prob, 4), runner_up)
