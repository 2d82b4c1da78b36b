"""The records a server holds (harness.mock.model) and the schema that checks them
(harness.mock.schema): a server on the cached library never imports pydantic, and the
records keep the model interface harness and its users call."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from harness.mock.model import RECORDS, Faults, Match, Record, Response, Scenario, Step
from harness.mock.scenario import builtin_scenarios_dir, load_scenarios, parse_scenario

# A fresh interpreter serves one streamed answer of a built-in from the library cache,
# then one with a fault overlay, and says after each whether pydantic was imported.
SERVE_AND_TELL = textwrap.dedent(
    """
    import json, sys
    import httpx
    from harness.testing import run_server

    seen = {}
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with run_server() as server:
        url = server.url + "/s/openai/text/v1/chat/completions"
        with httpx.stream("POST", url, json=body, timeout=30) as answer:
            seen["plain"] = [answer.status_code, answer.read().count(b"data:")]
        seen["after plain"] = "pydantic" in sys.modules
        headers = {"x-harness-faults": "chunking=byte"}
        with httpx.stream("POST", url, json=body, headers=headers, timeout=30) as answer:
            seen["overlay"] = [answer.status_code, answer.read().count(b"data:")]
        seen["after overlay"] = "pydantic" in sys.modules
    print(json.dumps(seen))
    """
)


def _run(code: str, cache: Path) -> Any:
    env = {"HARNESS_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_server_on_the_cached_library_imports_pydantic_only_to_check_an_overlay(
    tmp_path: Path,
) -> None:
    # The first process parses the library (pydantic checks it) and keeps it on disk.
    assert (
        _run(
            "import json; from harness.mock.scenario import load_scenarios; load_scenarios(); "
            "print(json.dumps(1))",
            tmp_path,
        )
        == 1
    )
    assert list(tmp_path.glob("library-*.pickle"))
    seen = _run(SERVE_AND_TELL, tmp_path)
    assert seen["plain"][0] == 200
    assert seen["plain"][1] > 3
    assert seen["after plain"] is False
    # A fault overlay is data from the request: checking it is what needs the schema.
    assert seen["overlay"][0] == 200
    assert seen["overlay"][1] == seen["plain"][1]
    assert seen["after overlay"] is True


def test_the_serve_path_modules_import_no_pydantic() -> None:
    code = (
        "import sys, harness.cli, harness.mock.serve, harness.mock.app, harness.testing; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'yaml')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_server_loads_the_event_stream_codec_with_the_first_bedrock_stream() -> None:
    """`harness serve`'s modules leave out the AWS event-stream codec until a Bedrock
    stream is encoded (harness.testing loads it, for golden views of Bedrock bodies)."""
    code = (
        "import sys, harness.cli, harness.mock.serve, harness.mock.app\n"
        "from harness.mock.replay import encode_step\n"
        "from harness.mock.scenario import Step\n"
        "codec = 'harness.stream.eventstream'\n"
        "before = codec in sys.modules\n"
        "encode_step(Step.unchecked(event='messageStop', data={}), provider='bedrock-converse')\n"
        "print(before, codec in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


BUILTIN_FILES = sorted(
    p for p in builtin_scenarios_dir().rglob("*") if p.suffix in (".yaml", ".yml")
)


@pytest.mark.parametrize(
    "path",
    BUILTIN_FILES,
    ids=[p.relative_to(builtin_scenarios_dir()).as_posix() for p in BUILTIN_FILES],
)
def test_a_record_dumps_back_to_what_its_file_says(path: Path) -> None:
    """``model_dump(exclude_unset=True)`` is the file's own mapping: every field the
    file gives, with its value, at every depth, and nothing the file leaves out."""
    document = yaml.safe_load(path.read_text())
    name = path.relative_to(builtin_scenarios_dir()).with_suffix("").as_posix()
    record = parse_scenario(path.read_text(), path=path, name=name)
    assert record.model_dump(exclude_unset=True) == {"name": name, **document}


def test_dumps_leave_out_what_they_are_asked_to() -> None:
    step = Step(data="x")
    assert step.model_dump(exclude_none=True) == {"data": "x"}
    faults = Faults(seed=3, chunking="event")
    assert faults.model_dump(exclude_defaults=True) == {"seed": 3}
    assert faults.model_dump(exclude_unset=True) == {"seed": 3, "chunking": "event"}
    assert len(faults.model_dump()) == len(Faults.model_fields)
    answer = Response(events=[{"data": {"a": [1]}}], faults={"seed": 2})
    dumped = answer.model_dump(exclude_defaults=True)
    assert dumped == {"events": [{"data": {"a": [1]}}], "faults": {"seed": 2}}
    dumped["events"][0]["data"]["a"].append(2)  # a copy: the record is untouched
    assert answer.events is not None
    assert answer.events[0].data == {"a": [1]}


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (Step, {"retry": -1}),
        (Step, {"data": "x", "comment": "y"}),
        (Step, {"event": "a\nb", "data": "x"}),
        (Step, {"dta": "x"}),
        (Faults, {"seed": "x"}),
        (Faults, {"stall_after": 1}),
        (Response, {"status": "200", "body": ""}),
        (Response, {"events": [{"data": "x"}], "body": "y"}),
        (Match, {"stream": "yes"}),
        (Scenario, {"version": 2, "name": "a", "provider": "openai", "body": ""}),
    ],
)
def test_building_a_record_checks_it_as_model_validate_does(
    cls: type[Record], values: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError) as built:
        cls(**values)
    with pytest.raises(ValidationError) as validated:
        cls.model_validate(values)
    assert built.value.errors(include_context=False) == validated.value.errors(
        include_context=False
    )


def test_a_fault_overlay_reads_text_leniently_and_the_file_strictly() -> None:
    assert Faults(seed="3", drop_usage="true").model_dump(exclude_unset=True) == {
        "seed": 3,
        "drop_usage": True,
    }
    with pytest.raises(ValidationError):
        Response(status="200", body="")


def test_a_record_given_for_a_field_is_checked_again() -> None:
    answer = Response(events=[Step(data="x")], faults=Faults(seed=3))
    assert answer.faults == Faults(seed=3)
    assert answer.faults is not None
    assert answer.faults.model_fields_set == {"seed"}
    with pytest.raises(ValidationError, match="faults"):
        Response(body="", faults=Step(data="x"))


def test_unchecked_fills_defaults_and_refuses_unknown_fields() -> None:
    faults = Faults.unchecked(seed=4)
    assert faults == Faults(seed=4)
    assert faults.model_fields_set == {"seed"}
    assert Faults.unchecked() == Faults()
    assert Faults.unchecked().model_fields_set == set()
    with pytest.raises(TypeError, match="no field sed"):
        Faults.unchecked(sed=4)


def test_records_are_frozen_and_copies_note_what_they_change() -> None:
    step = Step(data="x")
    with pytest.raises(AttributeError, match="frozen"):
        step.data = "y"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen"):
        del step.data
    changed = step.model_copy(update={"data": "y", "event": "e"})
    assert (step.data, changed.data, changed.event) == ("x", "y", "e")
    assert changed.model_fields_set == {"data", "event"}
    # merged() takes only what the overlay gives, defaults included when given.
    base = Faults(chunking="byte", seed=3)
    assert base.merged(Faults(chunking="event")).model_dump(exclude_defaults=True) == {"seed": 3}


def test_equal_records_hash_alike() -> None:
    assert Faults() == Faults(chunking="event")
    assert hash(Faults()) == hash(Faults(chunking="event"))
    assert Faults(seed=1) != Faults(seed=2)
    assert Step(data="x") != Step(comment="x")
    assert Step(data="x") != Faults()
    assert len({Faults(), Faults(seed=0), Faults(seed=1)}) == 2


def test_the_cache_pickle_keeps_every_record_whole(tmp_path: Path) -> None:
    library = load_scenarios()
    again = pickle.loads(pickle.dumps(library, protocol=pickle.HIGHEST_PROTOCOL))
    for old, new in zip(library, again, strict=True):
        assert new == old
        assert (new.path, new.answers) == (old.path, old.answers)
        assert new.model_fields_set == old.model_fields_set
        assert [a.model_fields_set for a in new.answers] == [
            a.model_fields_set for a in old.answers
        ]


def test_every_record_declares_its_fields_once() -> None:
    """The schema is made from the records: same names, defaults and requiredness."""
    from harness.mock.schema import _models

    models = _models()
    for cls in RECORDS:
        model = models[cls]
        assert model.__name__ == cls.__name__
        assert list(model.model_fields) == list(cls.model_fields)
        for name, spec in cls.model_fields.items():
            info = model.model_fields[name]
            assert info.is_required() == spec.required, (cls, name)
            if not spec.required:
                assert info.get_default(call_default_factory=True) == spec.make_default()


def test_a_single_answer_scenario_declares_the_fields_of_a_response() -> None:
    """The top level of a single-answer scenario is its Response: the same fields, types,
    defaults and bounds (declared twice, in both records; held equal here)."""
    from harness.mock.model import SINGLE_ANSWER_FIELDS

    assert list(SINGLE_ANSWER_FIELDS) == list(Response.model_fields)
    for name, spec in Response.model_fields.items():
        top = Scenario.model_fields[name]
        assert (top.annotation, top.default, top.default_factory, top.bounds) == (
            spec.annotation,
            spec.default,
            spec.default_factory,
            spec.bounds,
        ), name


def test_a_field_called_self_is_an_unknown_field_not_a_type_error() -> None:
    with pytest.raises(ValidationError, match="self"):
        Faults(self=1)


def test_dumps_keep_tuples_in_free_form_data() -> None:
    """model_dump copies lists and mappings and keeps tuples tuples, as pydantic did."""
    step = Step.unchecked(data={"a": (1, [2])})
    assert step.model_dump()["data"] == {"a": (1, [2])}


def test_a_single_answer_does_not_share_containers_with_its_scenario() -> None:
    scenario = parse_scenario(
        "version: 1\nprovider: openai\nheaders: {x-a: b}\nbody: {k: [1]}\n", name="s"
    )
    (answer,) = scenario.answers
    assert answer.headers == scenario.headers
    assert answer.headers is not scenario.headers
    assert answer.body is not scenario.body


def test_a_deep_copy_shares_nothing_mutable() -> None:
    step = Step(data={"a": [1]})
    deep, shallow = step.model_copy(deep=True), step.model_copy()
    assert deep == step
    assert deep.data is not step.data
    assert shallow.data is step.data


def test_a_subclass_that_adds_no_field_is_checked_as_its_record() -> None:
    class MyFaults(Faults):
        pass

    mine = MyFaults(seed="3")
    assert type(mine) is MyFaults
    assert (mine.seed, mine.model_fields_set) == (3, {"seed"})
    with pytest.raises(ValidationError):
        MyFaults(seed="x")

    class Wider(Faults):
        extra: int = 0

    with pytest.raises(TypeError, match="add no field"):
        Wider.model_validate({"seed": 1})


def test_the_schema_is_made_once_when_threads_first_check_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from harness.mock import schema

    made: list[int] = []
    real = schema._make_models

    def counted() -> Any:
        made.append(1)
        return real()

    monkeypatch.setattr(schema, "_MODELS", {})
    monkeypatch.setattr(schema, "_make_models", counted)
    start = threading.Barrier(16)

    def check() -> None:
        start.wait()
        assert Faults(seed=1).seed == 1

    threads = [threading.Thread(target=check) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == [1]


def test_the_cache_key_follows_what_the_records_declare(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record that changes a field makes a new disk-cache key: a pickle of the old
    form is never read as the new one."""
    from harness.mock import scenario

    scenario._records_form.cache_clear()
    before = scenario._records_form()
    monkeypatch.setattr(Faults.model_fields["max_chunk"], "default", 17)
    scenario._records_form.cache_clear()
    try:
        assert scenario._records_form() != before
    finally:
        monkeypatch.undo()
        scenario._records_form.cache_clear()
    assert scenario._records_form() == before
