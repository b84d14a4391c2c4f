"""Old keyword names kept working, with a DeprecationWarning, after a rename."""

import functools
import warnings

__all__ = ["renamed_keywords"]


def renamed_keywords(**renames):
    """Decorate a function so that each old keyword (the names of `renames`) still works as its new name.

    Examples
    --------
    >>> @renamed_keywords(k="n_clusters")
    ... def f(*, n_clusters=2):
    ...     return n_clusters
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     f(k=3)
    3
    """

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{func.__name__}() got both {old!r} and its new name {new!r}")
                    warnings.warn(
                        f"{func.__name__}({old}=...) is deprecated; use {new}=...", DeprecationWarning, stacklevel=2
                    )
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper

    return decorate
