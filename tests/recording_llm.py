"""A test double shared by the budget tests: a real LLM that also records each call's keyword arguments."""


class RecordingLLM:
    """An LLM that records the keyword arguments of every call and answers from the wrapped LLM."""

    def __init__(self, llm):
        self.llm, self.calls = llm, []

    def generate_outputs(self, inputs, num_generations=1, **kwargs):
        self.calls.append(kwargs)
        return self.llm.generate_outputs(inputs, num_generations=num_generations, **kwargs)
