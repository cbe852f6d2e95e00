"""`SamplingOfflineTeacher`: the offline teacher answering a repeated prompt like a sampling model."""

from __future__ import annotations

from collections import Counter

from pydantic import PrivateAttr

from .llm import OfflineTeacher


class SamplingOfflineTeacher(OfflineTeacher):
    """The offline teacher answering a repeated prompt like a sampling model: a new draw each time.

    Magpie sends the same prompt (a system prompt and the pre-query template) many times with
    one generation each. A model that samples writes a different query every time; the offline
    teacher is a function of the prompt and the generation index, so this copy counts how often
    it has seen each prompt and uses the count as the index (at temperature 0 the index is
    ignored, and all answers are the same, as with greedy decoding).
    """

    _seen: Counter = PrivateAttr(default_factory=Counter)

    def generate(self, inputs, num_generations: int = 1, **kwargs):  # noqa: D102 - see the class
        outputs = []
        for messages in inputs:
            key = repr(messages)
            start = self._seen[key]
            self._seen[key] += num_generations
            out = super().generate([messages], num_generations=start + num_generations, **kwargs)[0]
            outputs.append({"generations": out["generations"][start:],
                            "statistics": {k: v[start:] for k, v in out["statistics"].items()}})
        return outputs
