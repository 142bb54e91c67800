"""The one exception type for problems a user fixes: a bad file, data that don't match, a bad parameter."""


class DivlibError(ValueError):
    """A bad input value; the message names the argument, file or parameter, what was found, and the fix.

    It subclasses :class:`ValueError`, so code that calls divlib with a wrong value can catch either.
    """
