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


class UnreadableFile(DivlibError):
    """A file that is there but cannot be read as what it should be (damaged, cut short, or lacking
    a field). ``path`` names it and ``problem`` says what is wrong; the fix is to write it again (a
    stage script names the stage that writes it: :func:`divlib.study.cli.main_guard`)."""

    def __init__(self, path: object, problem: str):
        super().__init__(f"{path}: {problem}; write it again")
        self.path = str(path)
        self.problem = problem

    def __reduce__(self):  # picklable, so that a run in a worker process reports it as it is
        return type(self), (self.path, self.problem)


class DiskFull(DivlibError):
    """No space left (or over the quota) while writing an output; ``reason`` is the OS's words."""

    def __init__(self, path: object, reason: str):
        super().__init__(
            f"{path}: not written, the disk is full ({reason}); free space on it (or raise the "
            "quota) and run again"
        )
        self.path = str(path)
        self.reason = reason

    def __reduce__(self):  # picklable, as UnreadableFile
        return type(self), (self.path, self.reason)
