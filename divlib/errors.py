"""The one exception type for problems a user fixes: a bad file, data that don't match, a bad parameter."""


class DivlibError(ValueError):
    """A bad input value; the message names the argument, file or parameter, what was found, and the fix.

    It subclasses :class:`ValueError`, so code that calls divlib with a wrong value can catch either.
    """


class TrainingDiverged(DivlibError):
    """The loss became NaN or Inf; ``last_good`` holds the last state dict that was finite (or None)."""

    def __init__(self, message: str, *, step: int, last_good: dict | None):
        super().__init__(message)
        self.step = step
        self.last_good = last_good

    def __reduce__(self):  # picklable, so that a run in a worker process reports it as it is
        return _diverged, (str(self), self.step, self.last_good)


def _diverged(message: str, step: int, last_good: dict | None) -> TrainingDiverged:
    return TrainingDiverged(message, step=step, last_good=last_good)
