"""durabledict_dump and durabledict_load on in-memory stores: the file format, the
options, validation, and what the commands write (nothing, or one change per dict).

The store-specific tests (ModelDict, RedisDict, ZookeeperDict) are in
test_commands_<backend>.py."""

import io
import json
import os
import stat
import threading

import pytest
from django.core.management.base import CommandError
from django.test import override_settings

from django_durabledict import dicts
from django_durabledict.backends.memory import MemoryDict
from django_durabledict.base import DurableDict
from django_durabledict.management.dumpformat import RAW_TAG
from tests.commands_helpers import (
    SAMPLE,
    TTYStringIO,
    dump,
    load,
    states,
    write_document,
)
from tests.dictbackends import (
    SharedMemoryDict,
    memory_entry,
    reset_stores,
    store_for,
)

PICKLE = "django_durabledict.encoding.PickleEncoding"
NOOP = "django_durabledict.encoding.NoOpEncoding"
CONFIG = {
    "features": memory_entry(),
    "limits": memory_entry(MAX_VALUE_SIZE=100),
    "legacy": memory_entry(ENCODING=PICKLE),
    "objects": memory_entry(ENCODING=NOOP),
}


@pytest.fixture(autouse=True)
def configured():
    reset_stores()
    with override_settings(DURABLEDICTS=CONFIG):
        yield
    dicts.close_all()


def version(name):
    return store_for(name).version


def fill(name, values):
    dicts[name]._apply(values, [])


# -- durabledict_dump ---------------------------------------------------------------


def test_dump_writes_sorted_stable_json_with_its_header():
    fill("features", SAMPLE)
    fill("limits", {"b": 2, "a": 1})
    out, err = dump("features", "limits")
    document = json.loads(out)
    assert document == {
        "format": 1,
        "backends": {
            "features": "tests.dictbackends.SharedMemoryDict",
            "limits": "tests.dictbackends.SharedMemoryDict",
        },
        "dicts": {"features": SAMPLE, "limits": {"a": 1, "b": 2}},
    }
    assert list(document["dicts"]["features"]) == sorted(SAMPLE)
    assert out.index('"a": 1') < out.index('"b": 2')
    assert dump("features", "limits")[0] == out  # byte for byte
    assert err == ""


def test_dump_reads_only():
    fill("features", SAMPLE)
    before, token = version("features"), dicts["features"].last_synced
    dump("--all")
    assert version("features") == before
    assert dicts["features"].last_synced == token
    assert store_for("features").values == {
        k: json.dumps(v, ensure_ascii=False) for k, v in SAMPLE.items()
    }


def test_dump_all_and_names_are_exclusive_and_one_is_needed():
    assert set(json.loads(dump("--all")[0])["dicts"]) == set(CONFIG)
    with pytest.raises(CommandError, match="not both"):
        dump("features", "--all")
    with pytest.raises(CommandError, match="Configured dicts: 'features', 'limits'"):
        dump()


def test_dump_of_an_unknown_name_names_the_configured_dicts():
    with pytest.raises(CommandError) as error:
        dump("features", "nope")
    assert "'nope'" in str(error.value)
    assert "'features', 'limits', 'legacy', 'objects'" in str(error.value)


def test_indent():
    fill("features", {"a": [1, 2]})
    assert dump("features", "--indent", "0")[0].count("\n") == 1
    assert '\n        "features": {\n' in dump("features", "--indent", "4")[0]
    with pytest.raises(CommandError, match="--indent"):
        dump("features", "--indent", "-1")


def test_output_file_is_private_and_replaced_atomically(tmp_path):
    fill("features", {"secret": "s3cr3t"})
    path = tmp_path / "backup.json"
    path.write_text("old contents")
    os.chmod(path, 0o644)
    old_umask = os.umask(0)  # the mode must not depend on the umask
    try:
        out, _ = dump("features", "--output", str(path))
    finally:
        os.umask(old_umask)
    assert out == ""
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text(encoding="utf-8") == dump("features")[0]
    assert os.listdir(tmp_path) == ["backup.json"]  # no temporary file left


def test_output_to_a_missing_directory_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot write"):
        dump("features", "-o", str(tmp_path / "missing" / "x.json"))


def test_a_pickled_set_is_skipped_with_a_message_and_kept_with_raw():
    fill("legacy", {"blocked": {"10.0.0.1", "10.0.0.2"}, "limit": 3})
    out, err = dump("legacy")
    document = json.loads(out)
    assert document["dicts"] == {"legacy": {}}
    assert document["skipped"] == {"legacy": ["blocked", "limit"]}
    assert "legacy: skipped 2 keys ('blocked', 'limit'): a dump never unpickles" in err
    assert "--raw" in err

    out, err = dump("legacy", "--raw")
    raw = json.loads(out)["dicts"]["legacy"]
    assert err == "" and "skipped" not in json.loads(out)
    assert raw["blocked"] == {
        RAW_TAG: PICKLE,
        "value": store_for("legacy").values["blocked"],
    }


def test_a_dump_never_unpickles(monkeypatch):
    import pickle

    fill("legacy", {"x": {1}})
    monkeypatch.setattr(pickle, "loads", lambda *a: pytest.fail("unpickled"))
    dump("legacy")
    dump("legacy", "--raw")


def test_raw_pickles_round_trip_byte_for_byte(tmp_path):
    fill("legacy", {"blocked": {f"10.0.0.{i}" for i in range(50)}, "n": 1})
    path = tmp_path / "legacy.json"
    dump("legacy", "--raw", "-o", str(path))
    stored = dict(store_for("legacy").values)
    reset_stores()
    dicts.close_all()
    load(str(path), "--no-input")
    assert store_for("legacy").values == stored  # the very text, never re-pickled
    assert dump("legacy", "--raw")[0] == path.read_text(encoding="utf-8")
    assert dicts["legacy"]["blocked"] == {f"10.0.0.{i}" for i in range(50)}


def test_a_value_that_looks_tagged_is_written_tagged(tmp_path):
    tricky = {RAW_TAG: "not a tag", "value": "x"}
    fill("features", {"tricky": tricky})
    out, _ = dump("features")
    assert json.loads(out)["dicts"]["features"]["tricky"][RAW_TAG].endswith(
        "JSONEncoding"
    )
    path = tmp_path / "f.json"
    path.write_text(out, encoding="utf-8")
    reset_stores()
    dicts.close_all()
    load(str(path), "--no-input")
    assert dicts["features"]["tricky"] == tricky
    assert dump("features")[0] == out


def test_values_json_cannot_hold_are_skipped():
    fill("objects", {"tuple": (1, 2), "object": object(), "fine": [1, {"a": None}]})
    out, err = dump("objects", "--raw")
    assert json.loads(out)["dicts"]["objects"] == {"fine": [1, {"a": None}]}
    assert "'tuple'" in err and "'object'" in err
    assert "not text" in err


def test_keys_that_are_not_strings_are_skipped():
    fill("objects", {1: "one", "two": 2})
    out, err = dump("objects")
    assert json.loads(out)["dicts"]["objects"] == {"two": 2}
    assert "'1'" in err and "JSON object keys are strings" in err


def test_a_store_that_cannot_be_read_is_a_command_error(monkeypatch):
    def fail(self):
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(MemoryDict, "_raw_snapshot", fail)
    with pytest.raises(CommandError) as error:
        dump("features")
    assert "'features'" in str(error.value)
    assert "ConnectionRefusedError: connection refused" in str(error.value)


# -- durabledict_load ---------------------------------------------------------------


def test_round_trip_into_an_empty_store(tmp_path):
    fill("features", SAMPLE)
    fill("limits", {"a": 1})
    path = tmp_path / "dump.json"
    dump("--all", "-o", str(path))
    reset_stores()
    dicts.close_all()
    out, _ = load(str(path), "--no-input")
    assert "features: 13 changes written." in out
    assert dicts["features"].copy() == SAMPLE
    assert dump("--all")[0] == path.read_text(encoding="utf-8")


def test_the_plan_shows_each_change_and_a_dry_run_stops_there(tmp_path):
    fill("features", {"same": 1, "changed": "old", "gone": True, "big": "x" * 100})
    path = write_document(
        tmp_path / "f.json",
        {"features": {"same": 1, "changed": "new", "added": [1], "big": "y" * 100}},
    )
    before = version("features")
    out, _ = load(path, "--dry-run", "--prune")
    assert out.splitlines() == [
        "features (tests.dictbackends.SharedMemoryDict): 1 to add, 2 to change, "
        "1 to remove, 1 unchanged",
        "  + added: [1]",
        "  ~ big: <JSONEncoding, 102 bytes> -> <JSONEncoding, 102 bytes>",
        '  ~ changed: "old" -> "new"',
        "  - gone",
        "Dry run: nothing was changed.",
    ]
    assert version("features") == before
    out, _ = load(path, "--dry-run")
    assert "0 to remove" in out and "- gone" not in out


def test_a_load_is_one_version_change_and_shows_at_once(tmp_path):
    fill("features", {"same": 1, "changed": "old", "gone": True})
    path = write_document(tmp_path / "f.json", {"features": {"same": 1, "x": "new"}})
    before = version("features")
    load(path, "--no-input", "--prune")
    assert version("features") == before + 1
    assert dicts["features"].copy() == {"same": 1, "x": "new"}


def test_without_prune_other_keys_stay(tmp_path):
    fill("features", {"other": 1})
    load(write_document(tmp_path / "f.json", {"features": {"x": 2}}), "--no-input")
    assert dicts["features"].copy() == {"other": 1, "x": 2}


def test_nothing_to_change_changes_nothing(tmp_path):
    fill("features", {"a": 1})
    before = version("features")
    path = write_document(tmp_path / "f.json", {"features": {"a": 1}})
    out, _ = load(path, "--no-input")
    assert out.endswith("Nothing to change.\n")
    assert version("features") == before


def test_json_written_by_another_tool_is_unchanged_when_the_value_is(tmp_path):
    with store_for("features").lock:
        store_for("features").values["a"] = '{"b":1,"a":[1,2]}'
        store_for("features").changed()
    path = write_document(
        tmp_path / "f.json", {"features": {"a": {"a": [1, 2], "b": 1}}}
    )
    assert "Nothing to change." in load(path, "--no-input")[0]


def test_prune_keeps_the_keys_the_dump_skipped(tmp_path):
    fill("legacy", {"blocked": {"1.2.3.4"}})
    fill("features", {"x": 1})
    path = tmp_path / "all.json"
    dump("legacy", "features", "-o", str(path))
    fill("features", {"later": 2})
    out, _ = load(str(path), "--no-input", "--prune")
    assert "  = blocked: kept (the dump skipped it)" in out
    assert "  - later" in out
    assert dicts["legacy"]["blocked"] == {"1.2.3.4"}
    assert dicts["features"].copy() == {"x": 1}


def test_confirmation(tmp_path, monkeypatch):
    path = write_document(tmp_path / "f.json", {"features": {"a": 1}})
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    out, _ = load(path)
    assert "Cancelled: nothing was changed." in out and "a" not in dicts["features"]

    def closed(prompt):
        raise EOFError

    monkeypatch.setattr("builtins.input", closed)
    with pytest.raises(CommandError, match="--no-input"):
        load(path)
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    load(path)
    assert dicts["features"]["a"] == 1


def test_names_pick_dicts_of_the_file(tmp_path):
    path = write_document(
        tmp_path / "f.json", {"features": {"a": 1}, "limits": {"b": 2}}
    )
    load(path, "limits", "--no-input")
    assert "a" not in dicts["features"] and dicts["limits"]["b"] == 2
    with pytest.raises(CommandError, match="holds no dict 'nope'"):
        load(path, "nope", "--no-input")


def test_standard_input(monkeypatch):
    text = json.dumps({"format": 1, "dicts": {"features": {"a": 1}}})
    with pytest.raises(CommandError, match="--no-input"):
        load("-")
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    load("-", "--no-input")
    assert dicts["features"]["a"] == 1


def tagged_file(name, value):
    return json.dumps({"format": 1, "dicts": {name: {"a": value}}})


BAD_FILES = {
    "not JSON": ("{not json", "is not JSON"),
    "a list": ("[]", "holds a JSON list"),
    "no format": ('{"dicts": {}}', "'format' is None"),
    "format 2": ('{"format": 2, "dicts": {}}', "reads format 1"),
    "format true": ('{"format": true, "dicts": {}}', "reads format 1"),
    "dicts not an object": ('{"format": 1, "dicts": []}', "'dicts' must be"),
    "dict not an object": ('{"format": 1, "dicts": {"features": 1}}', "an object"),
    "unknown key": ('{"format": 1, "dicts": {}, "dict": {}}', "'dict'"),
    "backends": ('{"format": 1, "dicts": {}, "backends": {"a": 1}}', "'backends'"),
    "skipped": ('{"format": 1, "dicts": {}, "skipped": {"a": [[1]]}}', "strings"),
    "twice": ('{"format": 1, "dicts": {"features": {"a": 1, "a": 2}}}', "twice"),
    "unknown dict": (
        '{"format": 1, "dicts": {"features": {"a": 1}, "nope": {}}}',
        "No dict named 'nope'",
    ),
    "oversized value": (
        '{"format": 1, "dicts": {"features": {"a": 1}, "limits": {"a": "%s"}}}'
        % ("x" * 200),
        "202 bytes; the dict allows 100 (MAX_VALUE_SIZE)",
    ),
    "unencodable value": (
        '{"format": 1, "dicts": {"features": {"a": 1, "b": NaN}}}',
        "features['b']: cannot be encoded",
    ),
    "tag of another encoding": (
        tagged_file("features", {RAW_TAG: PICKLE, "value": "x"}),
        "it is tagged 'django_durabledict.encoding.PickleEncoding'",
    ),
    "tag with bad base64": (
        tagged_file("legacy", {RAW_TAG: PICKLE, "value": "!!"}),
        "not valid django_durabledict.encoding.PickleEncoding",
    ),
    "tag without value": (
        tagged_file("features", {RAW_TAG: "x"}),
        "a tagged value is",
    ),
    "not UTF-8": (b'{"format": 1, "dicts": {"features": {"a": "\xff"}}}', "UTF-8"),
}


@pytest.mark.parametrize("text, message", BAD_FILES.values(), ids=list(BAD_FILES))
def test_a_bad_file_changes_nothing(tmp_path, text, message):
    fill("features", {"a": 0, "keep": 1})
    fill("limits", {"a": "small"})
    fill("legacy", {"a": 1})
    before = {name: (version(name), dict(store_for(name).values)) for name in CONFIG}
    path = tmp_path / "bad.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(CommandError) as error:
        load(str(path), "--no-input", "--prune")
    assert message in str(error.value)
    after = {name: (version(name), dict(store_for(name).values)) for name in CONFIG}
    assert after == before


def test_problems_are_listed_up_to_a_limit(tmp_path):
    values = {f"k{i}": "x" * 200 for i in range(30)}
    path = write_document(tmp_path / "f.json", {"limits": values})
    with pytest.raises(CommandError) as error:
        load(path, "--no-input")
    assert str(error.value).count("MAX_VALUE_SIZE") == 20
    assert "... and 10 more" in str(error.value)


def test_a_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        load(str(tmp_path / "missing.json"), "--no-input")


def test_a_failing_apply_names_what_was_loaded(tmp_path, monkeypatch):
    path = write_document(
        tmp_path / "f.json", {"features": {"a": 1}, "limits": {"b": 2}}
    )
    original = MemoryDict._apply_encoded

    def fail_for_limits(self, encoded, removals):
        if self.name == "limits":
            raise ConnectionResetError("gone")
        original(self, encoded, removals)

    monkeypatch.setattr(MemoryDict, "_apply_encoded", fail_for_limits)
    with pytest.raises(CommandError) as error:
        load(path, "--no-input")
    message = str(error.value)
    assert "'limits'" in message and "nothing of it was changed" in message
    assert "Dicts already loaded: 'features'" in message


def test_progress_bar_only_on_a_terminal_and_for_large_loads(tmp_path):
    from django.core.management import call_command

    values = {f"k{i:04d}": i for i in range(1500)}
    path = write_document(tmp_path / "f.json", {"features": values})
    err = TTYStringIO()
    call_command(
        "durabledict_load", path, "--no-input", stdout=io.StringIO(), stderr=err
    )
    assert "\r[##############################] 1500/1500 changes (features)" in (
        err.getvalue()
    )
    assert err.getvalue().endswith("\n")
    reset_stores()
    dicts.close_all()
    quiet = io.StringIO()
    call_command(
        "durabledict_load", path, "--no-input", stdout=io.StringIO(), stderr=quiet
    )
    assert quiet.getvalue() == ""


def test_verbosity_0_shows_counts_only(tmp_path):
    path = write_document(tmp_path / "f.json", {"features": {"a": 1}})
    out, _ = load(path, "--dry-run", "--verbosity", "0")
    assert "+ a" not in out and "1 to add" in out


class KeyByKey(SharedMemoryDict):
    """A backend with the base class's key-by-key bulk hooks."""

    _apply_encoded = DurableDict._apply_encoded


def test_a_backend_without_bulk_hooks_is_loaded_key_by_key_with_a_warning(tmp_path):
    with override_settings(DURABLEDICTS={"plain": memory_entry(BACKEND=KeyByKey)}):
        path = write_document(tmp_path / "f.json", {"plain": {"a": 1, "b": [2]}})
        out, _ = load(path, "--no-input")
        assert "warning: this backend writes key by key" in out
        assert dicts["plain"].copy() == {"a": 1, "b": [2]}


def test_a_reader_thread_never_sees_a_half_applied_load(tmp_path):
    old, new = states(2000)
    fill("features", old)
    path = write_document(tmp_path / "f.json", {"features": new})
    reader = MemoryDict(
        store=store_for("features"), encoding=dicts["features"].encoding
    )
    seen, stop = [], threading.Event()

    def read():
        while not stop.is_set():
            values = reader.durables()
            seen.append("old" if values == old else "new" if values == new else "mixed")

    thread = threading.Thread(target=read)
    thread.start()
    try:
        load(path, "--no-input", "--prune")
    finally:
        stop.set()
        thread.join(30)
    assert "mixed" not in seen
    assert reader.durables() == new


def test_manage_py_exits_non_zero_with_the_message_on_stderr():
    import subprocess
    import sys

    from tests.commands_helpers import ROOT

    result = subprocess.run(
        [sys.executable, "-m", "django", "durabledict_dump", "nope"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "No dict named 'nope' in DURABLEDICTS" in result.stderr
    assert "Configured dicts: 'default'" in result.stderr
    assert result.stdout == ""
