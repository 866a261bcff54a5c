"""Configuration files merge: lists under one key concatenate, mappings merge, and a real
conflict is refused naming both files and the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from vrp.config_files import ConfigurationError, load_configuration
from vrp.settings import DEMO_CONFIG_DIR


def copy_demo(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, target)
    return target


def _move_agreement(directory: Path, agreement_id: str, to: str) -> None:
    """Take one agreement out of agreements.yaml into a file of its own."""
    source = directory / "agreements.yaml"
    document = yaml.safe_load(source.read_text())
    [moved] = [a for a in document["agreements"] if a["id"] == agreement_id]
    document["agreements"].remove(moved)
    source.write_text(yaml.safe_dump(document, sort_keys=False))
    (directory / to).write_text(yaml.safe_dump({"agreements": [moved]}, sort_keys=False))


def test_the_hub_triage_agreement_in_its_own_file_loads_as_one_configuration(
    tmp_path: Path,
) -> None:
    whole = load_configuration(DEMO_CONFIG_DIR)
    directory = copy_demo(tmp_path)
    _move_agreement(directory, "isa-hub-triage", "hub-triage.yaml")
    split = load_configuration(directory)
    assert [a.id for a in split.agreements].count("isa-hub-triage") == 1
    # Nothing lost and nothing doubled (only the agreements' order differs).
    assert {a.id: a for a in split.agreements} == {a.id: a for a in whole.agreements}
    assert split.model_copy(update={"agreements": whole.agreements}) == whole


def test_mappings_merge_key_by_key_across_files(tmp_path: Path) -> None:
    directory = copy_demo(tmp_path)
    (directory / "zz-more-reasons.yaml").write_text(
        "vocabularies:\n  reasons:\n    add:\n      acid-attack: Acid or corrosive attack\n"
    )
    loaded = load_configuration(directory)
    assert loaded.codes.has("reasons", "acid-attack")
    assert loaded.codes.has("reasons", "firearm-injury")  # from the demo's vocabularies.yaml


def test_the_same_id_in_two_files_is_refused_naming_both(tmp_path: Path) -> None:
    directory = copy_demo(tmp_path)
    agreements = yaml.safe_load((directory / "agreements.yaml").read_text())["agreements"]
    [triage] = [a for a in agreements if a["id"] == "isa-hub-triage"]
    (directory / "zz-triage-again.yaml").write_text(yaml.safe_dump({"agreements": [triage]}))
    with pytest.raises(ConfigurationError) as raised:
        load_configuration(directory)
    [problem] = raised.value.problems
    assert problem.startswith(f"{directory / 'zz-triage-again.yaml'}:2: agreements: ")
    assert "'isa-hub-triage v1' is defined here and in " in problem
    assert f"{directory / 'agreements.yaml'}:" in problem


def test_two_files_disagreeing_on_a_setting_are_refused_naming_both(tmp_path: Path) -> None:
    directory = copy_demo(tmp_path)
    (directory / "zz-hub.yaml").write_text("hub: wmp\n")
    with pytest.raises(ConfigurationError) as raised:
        load_configuration(directory)
    [problem] = raised.value.problems
    assert problem == (
        f"{directory / 'zz-hub.yaml'}:1: hub: set differently here and in "
        f"{directory / 'organisations.yaml'}:5"
    )


def test_two_labels_for_one_code_are_a_conflict_but_the_same_label_agrees(tmp_path: Path) -> None:
    directory = copy_demo(tmp_path)
    demo = yaml.safe_load((directory / "vocabularies.yaml").read_text())
    label = demo["vocabularies"]["reasons"]["add"]["firearm-injury"]
    same = {"vocabularies": {"reasons": {"add": {"firearm-injury": label}}}}
    (directory / "zz-same.yaml").write_text(yaml.safe_dump(same))
    assert load_configuration(directory).codes.codes["reasons"]["firearm-injury"] == label
    other = {"vocabularies": {"reasons": {"add": {"firearm-injury": "Shot"}}}}
    (directory / "zz-same.yaml").write_text(yaml.safe_dump(other))
    with pytest.raises(ConfigurationError) as raised:
        load_configuration(directory)
    assert any(
        "vocabularies.reasons.add.firearm-injury: set differently here and in" in p
        and str(directory / "vocabularies.yaml") in p
        for p in raised.value.problems
    )


def test_an_error_in_a_split_file_names_that_file_and_line(tmp_path: Path) -> None:
    directory = copy_demo(tmp_path)
    _move_agreement(directory, "isa-hub-triage", "hub-triage.yaml")
    path = directory / "hub-triage.yaml"
    path.write_text(path.read_text().replace("status: active", "status: lapsed"))
    with pytest.raises(ConfigurationError) as raised:
        load_configuration(directory)
    line = next(n for n, t in enumerate(path.read_text().splitlines(), 1) if "lapsed" in t)
    assert any(p.startswith(f"{path}:{line}: agreements.") for p in raised.value.problems)
