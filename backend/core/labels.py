"""Choices' labels in the request's language: Chinese (the choices' own labels, which
the admin shows too) by default, English with ``Accept-Language: en``, as error
messages are (``backend.core.errors``)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import models

from backend.core.errors import prefers_english


class Labels:
    """A choices class's labels by value, in the request's language."""

    def __init__(self, choices: type[models.Choices], english: dict):
        self.chinese = dict(choices.choices)
        self.english = {choices(value).value: label for value, label in english.items()}
        if set(self.english) != set(self.chinese):
            raise ValueError(f"{choices.__name__}: English labels for {sorted(set(self.chinese) ^ set(self.english))}")

    def __getitem__(self, value) -> str:
        return (self.english if prefers_english() else self.chinese)[value]

    def __contains__(self, value) -> bool:
        return value in self.chinese

    def __iter__(self) -> Iterator:
        return iter(self.chinese)
