"""Request validation failures in plain words: the one place where what pydantic found
wrong with a request becomes what a person reads.

`explain(errors)` turns pydantic's error list into `(detail, fields)`: `fields` maps
each input's name ("title", "topics", "url") to one sentence about it, for the page to
show next to that input; `detail` is those sentences (and any about the request as a
whole) joined, for a client that shows one message. pydantic's own English ("String
should have at least 1 character") never reaches a person.

Messages are looked up by (field, error type), then by error type with the field's
label, then a sentence that names the field. The models' own checks raise
`PydanticCustomError` with a type named here (e.g. "duplicate"); their numbers (limits)
come in the error's context, so the words here never copy a limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Parts of a location that say where in the request, not which input.
_WHERE = {"body", "query", "path", "header", "cookie"}
_LINK = "Links must start with http:// or https://"

# (field, error type) -> the sentence. "topics[]" is one item of the list "topics".
# Placeholders are filled from the error's context (pydantic's, or the model's own).
MESSAGES: dict[tuple[str, str], str] = {
    ("title", "missing"): "Give your Space a title.",
    ("title", "string_too_short"): "Give your Space a title.",
    ("title", "blank"): "Give your Space a title.",
    ("title", "string_too_long"): "A title can be at most {max_length} characters.",
    ("description", "string_too_long"): "A description can be at most {max_length} characters.",
    ("topics", "too_long"): "A Space can have at most {max_length} topics.",
    ("topics", "blank"): "Topics can't be blank: remove the extra comma.",
    ("topics", "duplicate"): "Each topic must be different.",
    ("topics[]", "string_too_short"): "Topics can't be blank: remove the extra comma.",
    ("topics[]", "string_too_long"): "Each topic can be at most {max_length} characters.",
    ("scheduled_start", "in_the_past"): "The start time is in the past: pick a later one.",
    ("scheduled_start", "too_far_ahead"): "A Space can be scheduled at most {days} days ahead.",
    ("scheduled_start", "no_time_zone"):
        "Give the start time with a time zone, e.g. 2026-12-01T18:00:00Z.",
    ("username", "missing"): "Enter a username.",
    ("username", "string_too_short"): "A username needs at least {min_length} characters.",
    ("username", "string_too_long"): "A username can be at most {max_length} characters.",
    ("username", "plain_username"):
        "A username can only contain letters, digits and underscores (_).",
    ("password", "missing"): "Enter a password.",
    ("password", "string_too_short"): "A password needs at least {min_length} characters.",
    ("password", "string_too_long"): "A password can be at most {max_length} characters.",
    ("url", "missing"): "Enter a link to pin.",
    ("url", "url_scheme"): _LINK,
    ("url", "url_parsing"): f"That is not a link. {_LINK}",
    ("url", "url_syntax_violation"): f"That is not a link. {_LINK}",
    ("url", "url_type"): f"That is not a link. {_LINK}",
    ("url", "too_long"): "A link can be at most {max_length} characters.",
    ("display_name", "string_too_long"): "A display name can be at most {max_length} characters.",
    ("bio", "string_too_long"): "A bio can be at most {max_length} characters.",
    ("q", "missing"): "Type what you are looking for.",
    ("q", "string_too_short"): "Type what you are looking for.",
    ("q", "blank"): "Type what you are looking for.",
    ("q", "string_too_long"): "A search can be at most {max_length} characters.",
    ("q", "too_many_words"): "A search can have at most {max} words.",
    ("page", "less_than_equal"): "Results go up to page {le}: add words to narrow them.",
    ("emoji", "missing"): "Pick a reaction.",
    ("emoji", "string_too_short"): "Pick a reaction.",
    ("emoji", "string_too_long"): "Pick one of the reactions.",
}

# What each input is called in a sentence (it starts the sentence).
LABELS = {
    "title": "The title",
    "description": "The description",
    "topics": "Topics",
    "topics[]": "Each topic",
    "scheduled_start": "The start time",
    "private": "Private",
    "username": "The username",
    "password": "The password",
    "url": "The link",
    "emoji": "The reaction",
    "user_id": "The person",
    "session": "The listening session",
    "display_name": "The display name",
    "bio": "The bio",
    "q": "The search",
    "kind": "What to search",
    "page": "The page",
}

# Error type -> sentence about the input called {label}.
BY_TYPE = {
    "missing": "{label} is required.",
    "string_type": "{label} must be text.",
    "string_too_short": "{label} needs at least {min_length} characters.",
    "string_too_long": "{label} can be at most {max_length} characters.",
    "string_pattern_mismatch": "{label} has characters that are not allowed here.",
    "too_short": "{label} is too short (at least {min_length}).",
    "too_long": "{label} is too long (at most {max_length}).",
    "list_type": "{label} must be a list.",
    "int_type": "{label} must be a whole number.",
    "int_parsing": "{label} must be a whole number.",
    "int_from_float": "{label} must be a whole number.",
    "float_type": "{label} must be a number.",
    "float_parsing": "{label} must be a number.",
    "greater_than": "{label} must be more than {gt}.",
    "greater_than_equal": "{label} must be at least {ge}.",
    "less_than": "{label} must be less than {lt}.",
    "less_than_equal": "{label} must be at most {le}.",
    "bool_type": "{label} must be yes or no (true or false).",
    "bool_parsing": "{label} must be yes or no (true or false).",
    "datetime_type": "{label} is not a date and time.",
    "datetime_parsing": "{label} is not a date and time.",
    "datetime_from_date_parsing": "{label} is not a date and time.",
    "url_type": "{label} must be a link. " + _LINK,
    "url_parsing": "{label} must be a link. " + _LINK,
    "url_scheme": _LINK,
    "literal_error": "{label} must be one of {expected}.",
    "enum": "{label} must be one of {expected}.",
    "dict_type": "{label} must be a JSON object.",
    "model_type": "{label} must be a JSON object.",
    "model_attributes_type": "{label} must be a JSON object.",
    "extra_forbidden": "{label} is not something this accepts.",
    "control_characters": "{label} has characters that cannot be shown (control characters).",
}

# About the request as a whole (no input to point at).
WHOLE = {
    "json_invalid": "The request is not valid JSON.",
    "missing": "The request needs a JSON body.",
    "dict_type": "The request must be a JSON object.",
    "model_type": "The request must be a JSON object.",
    "model_attributes_type": "The request must be a JSON object.",
}
INVALID = "This request is not valid."


def field_of(loc: Sequence[Any]) -> tuple[str | None, str | None]:
    """(the input's name, the key for its messages): ("body", "topics", 0) ->
    ("topics", "topics[]"); the body itself -> (None, None)."""
    parts = [p for p in loc if not (isinstance(p, str) and p in _WHERE)]
    if not parts or not isinstance(parts[0], str):
        return None, None
    name = str(parts[0])
    key = f"{name}[]" if len(parts) > 1 and isinstance(parts[1], int) else name
    return name, key


def _fill(template: str, context: Mapping[str, Any]) -> str | None:
    try:
        return template.format_map(context)
    except (KeyError, IndexError, ValueError):
        return None


def _label(name: str, key: str) -> str:
    if key in LABELS:
        return LABELS[key]
    if key.endswith("[]"):
        return f"Each item of {LABELS.get(name, name)}"
    return LABELS.get(name, name)


def message(error: Mapping[str, Any]) -> tuple[str | None, str]:
    """One pydantic error as (input name or None, a sentence for a person)."""
    kind = str(error.get("type", ""))
    context = dict(error.get("ctx") or {})
    name, key = field_of(error.get("loc", ()))
    if name is None or key is None or kind == "json_invalid":  # its loc is a position
        return None, WHOLE.get(kind, INVALID)
    context["label"] = _label(name, key)
    for template in (MESSAGES.get((key, kind)), MESSAGES.get((name, kind)), BY_TYPE.get(kind)):
        if template is not None and (text := _fill(template, context)) is not None:
            return name, text
    return name, f"{context['label']} is not valid."


def explain(errors: Iterable[Mapping[str, Any]]) -> tuple[str, dict[str, str]]:
    """(detail, fields): one sentence per input (the first found wrong with it), and all
    of them (with those about the whole request) as the detail."""
    fields: dict[str, str] = {}
    sentences: list[str] = []
    for error in errors:
        name, text = message(error)
        if name is not None:
            if name in fields:
                continue
            fields[name] = text
        if text not in sentences:
            sentences.append(text)
    return " ".join(sentences) or INVALID, fields
