"""Routes whose permission rows live in other test modules register here, so the
matrix test can tell a forgotten route from one tested elsewhere."""

_covered: set[str] = set()


def cover(*paths: str) -> None:
    _covered.update(paths)


def covered() -> set[str]:
    return set(_covered)
