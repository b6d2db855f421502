"""nodes.api.paths: the one containment helper, and ComfyUI's annotated names."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

import pytest

from nodes.api import Folders
from nodes.api.paths import (
    AnnotatedName,
    PathRefusedError,
    parse_annotated,
    resolve_annotated,
    resolve_inside,
)

# Names refused before the disk is touched, with the reason the error must give.
LEXICAL_CORPUS = [
    ("..", "'..'"),
    ("../secret.png", "'..'"),
    ("a/../../secret.png", "'..'"),
    ("a/..", "'..'"),
    (unquote("%2e%2e/secret.png"), "'..'"),  # what a server sees after URL decoding
    (unquote("sub%2f%2e%2e%2f%2e%2e%2fsecret.png"), "'..'"),
    ("/etc/passwd", "absolute"),
    ("//server/share/x.png", "absolute"),
    ("a.png\x00.txt", "NUL"),
    ("..\\secret.png", "Windows separator"),
    ("sub\\x.png", "Windows separator"),
    ("C:secret.png", "drive letter"),
    ("c:/Windows/x.png", "drive letter"),
    ("", "empty"),
]


@pytest.mark.parametrize(("value", "reason"), LEXICAL_CORPUS)
def test_traversal_corpus_is_refused_with_the_value_named(
    tmp_path: Path, value: str, reason: str
) -> None:
    with pytest.raises(PathRefusedError) as caught:
        resolve_inside(tmp_path, value, what="LoadImage input 'image'")
    message = str(caught.value)
    assert reason in message
    assert repr(value) in message
    assert "LoadImage input 'image'" in message


def test_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"x")
    os.symlink(outside / "secret.png", root / "link.png")
    os.symlink(outside, root / "linkdir")
    for name in ("link.png", "linkdir/secret.png"):
        with pytest.raises(PathRefusedError, match="resolves outside"):
            resolve_inside(root, name)


def test_names_inside_resolve_including_links_that_stay_inside(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.png").write_bytes(b"x")
    os.symlink(tmp_path / "sub" / "a.png", tmp_path / "alias.png")
    assert resolve_inside(tmp_path, "sub/a.png") == (tmp_path / "sub" / "a.png").resolve()
    assert resolve_inside(tmp_path, "alias.png") == (tmp_path / "sub" / "a.png").resolve()
    assert resolve_inside(tmp_path, "./sub//a.png") == (tmp_path / "sub" / "a.png").resolve()
    # names that merely contain dots are names, not traversal
    assert resolve_inside(tmp_path, "..a.png").name == "..a.png"
    assert resolve_inside(tmp_path, "%2e%2e").name == "%2e%2e"
    assert resolve_inside(tmp_path, "", allow_empty=True) == tmp_path.resolve()


@pytest.mark.parametrize(("value", "expected"), [
    ("x.png [output]", AnnotatedName("x.png", "output")),
    ("sub/x.png [input]", AnnotatedName("sub/x.png", "input")),
    ("x.png [temp]", AnnotatedName("x.png", "temp")),
    ("x.png", AnnotatedName("x.png", None)),
    ("x.png [other]", AnnotatedName("x.png [other]", None)),
    ("x.png[output]", AnnotatedName("x.png[output]", None)),
])
def test_parse_annotated(value: str, expected: AnnotatedName) -> None:
    assert parse_annotated(value) == expected


def test_resolve_annotated_picks_the_folder_and_still_confines(tmp_path: Path) -> None:
    folders = Folders(input=tmp_path / "in", output=tmp_path / "out", temp=tmp_path / "tmp")
    for path in (folders.input, folders.output, folders.temp):
        path.mkdir()
    assert resolve_annotated(folders, "a.png [output]") == (folders.output / "a.png").resolve()
    assert resolve_annotated(folders, "a.png [temp]") == (folders.temp / "a.png").resolve()
    assert resolve_annotated(folders, "a.png") == (folders.input / "a.png").resolve()
    with pytest.raises(PathRefusedError, match="'..'"):
        resolve_annotated(folders, "../in/a.png [output]")
    with pytest.raises(PathRefusedError, match="expected a string"):
        resolve_annotated(folders, 3)
