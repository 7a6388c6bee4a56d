"""The limits of ``api.Param`` (ranges, lengths, item counts): enforced by ``api.bind`` for REST and
widgets alike, and the same as the engine's own checks where the engine has them."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest

from model_studio import api
from model_studio.errors import ValidationError

BOUNDED = [(op, p) for op in api.OPERATIONS for p in op.params
           if any(v is not None for v in (p.minimum, p.maximum, p.exclusive_minimum, p.exclusive_maximum))]
FLOATS = [(op, p) for op in api.OPERATIONS for p in op.params if p.type == "float"]
LONG = [(op, p) for op in api.OPERATIONS for p in op.params if p.max_length is not None or p.max_items is not None]


def _ids(case) -> str:
    op, p = case
    return f"{op.name}.{p.name}"


def _bind(op: api.Operation, p: api.Param, value) -> dict:
    """Bind ``value`` to ``p`` (with placeholders for the other required parameters)."""
    values = {q.name: (q.choices[0] if q.choices else "x/y" if q.type in ("str", "model") else 1 if q.type in ("int", "float")
                       else [{}] if q.type == "list[object]" else ["x"])
              for q in op.params if q.required and q.name != p.name}
    values[p.name] = value
    return api.bind(op, values)


def _step(p: api.Param) -> float:
    return 1 if p.type == "int" else 1e-6


def _edges(p: api.Param) -> list[tuple[float, bool]]:
    """(value, accepted) pairs on each side of each bound."""
    out: list[tuple[float, bool]] = []
    step = _step(p)
    if p.minimum is not None:
        out += [(p.minimum, True), (p.minimum - step, False)]
    if p.maximum is not None:
        out += [(p.maximum, True), (p.maximum + step, False)]
    if p.exclusive_minimum is not None:
        out += [(p.exclusive_minimum, False), (p.exclusive_minimum + step, True)]
    if p.exclusive_maximum is not None:
        out += [(p.exclusive_maximum, False), (p.exclusive_maximum - step, True)]
    return [(int(v) if p.type == "int" else v, ok) for v, ok in out]


@pytest.mark.parametrize("case", BOUNDED, ids=_ids)
def test_values_past_a_bound_are_refused_naming_the_parameter_and_the_bound(case):
    op, p = case
    for value, accepted in _edges(p):
        if accepted:
            assert _bind(op, p, value)[p.name] == value
            if p.where == "query":  # as a query string too
                assert _bind(op, p, str(value))[p.name] == value
            continue
        with pytest.raises(ValidationError) as err:
            _bind(op, p, value)
        assert f"'{p.name}'" in err.value.message
        assert err.value.details["parameter"] == p.name
        assert set(err.value.details) & {"minimum", "maximum", "exclusive_minimum", "exclusive_maximum"}


@pytest.mark.parametrize("case", FLOATS, ids=_ids)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan", "inf", "-Infinity", "1e400"])
def test_non_finite_numbers_are_refused(case, value):
    # json.loads reads NaN and Infinity; a query string can spell them too
    op, p = case
    with pytest.raises(ValidationError) as err:
        _bind(op, p, value)
    assert err.value.details["parameter"] == p.name


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**100])
def test_integers_beyond_64_bits_are_refused(value):
    # e.g. a JSON body's huge integer that SQLite could not store
    op = api.BY_NAME["training.estimate"]
    with pytest.raises(ValidationError, match="64-bit"):
        api.bind(op, {"base": "local/x", "lora_alpha": value})


def _longest_model_name(limit: int) -> str:
    """A valid org/name@revision:variant of at most ``limit`` characters (a model parameter is parsed)."""
    name = f"{'o' * 96}/{'n' * 96}@{'r' * 200}:{'v' * 100}"
    assert len(name) <= limit
    return name


@pytest.mark.parametrize("case", LONG, ids=_ids)
def test_strings_and_lists_past_their_length_are_refused(case):
    op, p = case
    if p.max_length is not None:
        too_long = "a" * (p.max_length + 1)
        value = [too_long] if p.type == "list[str]" else too_long
        with pytest.raises(ValidationError) as err:
            _bind(op, p, value)
        assert err.value.details == {**err.value.details, "parameter": p.name, "max_length": p.max_length}
        assert len(str(err.value.details["value"])) < 200  # the huge value is not echoed back
        fits = _longest_model_name(p.max_length) if p.type == "model" else "a" * p.max_length
        assert _bind(op, p, [fits] if p.type == "list[str]" else fits)[p.name]
    if p.max_items is not None:
        item = {} if p.type == "list[object]" else "a"
        with pytest.raises(ValidationError) as err:
            _bind(op, p, [item] * (p.max_items + 1))
        assert err.value.details["max_items"] == p.max_items
        assert len(_bind(op, p, [item] * p.max_items)[p.name]) == p.max_items


# --- the same limits as the engine ---------------------------------------------------------------


def _engine_accepts(check, name: str, value) -> bool:
    try:
        check(name, value)
    except ValidationError:
        return False
    return True


def _training(name: str, value) -> None:
    from model_studio.core.training.config import RunConfig

    extra = {"eval_fraction": 0.1} if name == "eval_every" else {}
    RunConfig.from_kwargs("local/base", "data", **{name: value, **extra})


def _params(op_name: str, names: set[str] | None = None) -> list[api.Param]:
    return [p for p in api.BY_NAME[op_name].params if (names is None or p.name in names) and _edges(p)]


SAMPLING = _params("chat.complete", {"temperature", "top_p", "top_k", "max_tokens", "seed", "repeat_penalty"})


@pytest.mark.parametrize("p", SAMPLING, ids=lambda p: p.name)
def test_the_three_doors_refuse_the_same_sampling_value_with_the_same_limit(p):
    # One declaration (engine.chat.SamplingParams): the operations table (REST, widgets), the
    # OpenAI door and the engine refuse a value past a bound alike, naming the same limit.
    from model_studio.core.chat.base import SamplingParams
    from model_studio.server._openai_request import OpenAIError, parse_chat_request

    assert {p.name for p in SAMPLING} | {"stop"} == {f.name for f in fields(SamplingParams)}
    for value, accepted in _edges(p):
        body = {"model": "local/x", "messages": [{"role": "user", "content": "hi"}], p.name: value}
        if accepted:
            assert api.bind(api.BY_NAME["chat.complete"], body)[p.name] == value
            assert parse_chat_request(body).sampling[p.name] == value
            assert getattr(SamplingParams.checked(**{p.name: value}), p.name) == value
            continue
        with pytest.raises(ValidationError) as table:
            api.bind(api.BY_NAME["chat.complete"], body)
        with pytest.raises(ValidationError) as engine:
            SamplingParams.checked(**{p.name: value})
        with pytest.raises(OpenAIError) as openai:
            parse_chat_request(body)
        assert table.value.details == engine.value.details, (p.name, value)
        assert table.value.message == engine.value.message == openai.value.message, (p.name, value)
        assert openai.value.status == 400 and openai.value.param == p.name


def test_the_openai_door_names_its_own_spelling_of_max_tokens():
    from model_studio.server._openai_request import OpenAIError, parse_chat_request

    body = {"model": "local/x", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 0}
    with pytest.raises(OpenAIError) as err:
        parse_chat_request(body)
    assert err.value.param == "max_completion_tokens" and "at least 1" in err.value.message


@pytest.mark.parametrize("p", [p for p in _params("training.start") if p.name not in ("base", "dataset")],
                         ids=lambda p: p.name)
def test_training_limits_are_the_engine_s(p):
    for value, accepted in _edges(p):
        assert _engine_accepts(_training, p.name, value) == accepted, (p.name, value)


def test_video_and_upload_limits_are_the_engine_s():
    from model_studio.core import video
    from model_studio.core.training import datasets

    shape = {p.name: p for p in api.BY_NAME["video.generate"].params}
    assert (shape["width"].maximum, shape["height"].maximum) == (video.MAX_SIZE, video.MAX_SIZE)
    assert (shape["steps"].minimum, shape["steps"].maximum) == video.STEPS_RANGE
    assert (shape["guidance"].minimum, shape["guidance"].maximum) == video.GUIDANCE_RANGE
    assert (shape["fps"].minimum, shape["fps"].maximum) == video.FPS_RANGE
    assert shape["prompt"].max_length == shape["negative_prompt"].max_length == video.MAX_PROMPT_CHARS
    assert shape["image_base64"].max_length >= video.MAX_IMAGE_BYTES * 4 // 3 + 8
    assert api.MAX_UPLOAD_BYTES == datasets.MAX_UPLOAD_BYTES


def test_a_list_in_a_json_body_is_a_list_not_a_comma_separated_string():
    # A stop string "a, b" split at its comma would stop on the wrong text: a body gives lists
    op = api.BY_NAME["chat.complete"]
    with pytest.raises(ValidationError) as err:
        api.bind(op, {"model": "local/x", "messages": [{}], "stop": "a, b"})
    assert err.value.details["parameter"] == "stop"
    assert api.bind(op, {"model": "local/x", "messages": [{}], "stop": ["a, b"]})["stop"] == ["a, b"]
    # a query string still spells a list with commas
    query = api.Operation("t", "GET", "/t", lambda eng, files: None, "", (api.Param("files", "list[str]"),))
    assert api.bind(query, {"files": "a,b"})["files"] == ["a", "b"]


def test_a_model_parameter_is_parsed_once_into_a_model_ref():
    # The "model" parameter type: handlers and the engine receive a ModelRef, not text to parse again
    from model_studio.core.refs import ModelRef

    bound = api.bind(api.BY_NAME["downloads.start"], {"model": "org/name@v1:Q4_K_M"})
    assert bound["model"] == ModelRef("org/name", "v1", "Q4_K_M")
    assert api.bind(api.BY_NAME["library.info"], {"model": "local/x"})["model"] == ModelRef("local/x")
    with pytest.raises(ValidationError) as err:
        api.bind(api.BY_NAME["library.info"], {"model": "../etc"})
    assert err.value.details["parameter"] == "model"
