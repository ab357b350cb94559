"""Atomic writes: the file is either the old or the new content, and create-once never overwrites."""
from __future__ import annotations

import os

import pytest

from policy_reader.fsio import (atomic_copy_file, atomic_create_bytes, atomic_write_bytes, atomic_write_json,
                                read_json)


def test_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "job.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2, "text": "é"})
    assert read_json(target) == {"a": 2, "text": "é"}
    assert os.listdir(target.parent) == ["job.json"]


def test_failed_write_keeps_old_content(tmp_path):
    target = tmp_path / "job.json"
    atomic_write_json(target, {"ok": True})
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert read_json(target) == {"ok": True}
    assert os.listdir(tmp_path) == ["job.json"]


def test_create_once(tmp_path):
    target = tmp_path / "results" / "d0001.json"
    assert atomic_create_bytes(target, b"first") is True
    assert atomic_create_bytes(target, b"second") is False
    assert target.read_bytes() == b"first"
    assert os.listdir(target.parent) == ["d0001.json"]


def test_copy_large_file(tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    atomic_copy_file(source, tmp_path / "inputs" / "copy.bin")
    assert (tmp_path / "inputs" / "copy.bin").read_bytes() == source.read_bytes()
