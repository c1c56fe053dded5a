"""The Go text/template subset the original's templates use (prism_core.templates.gotext)."""

from __future__ import annotations

import pytest

from prism_core.templates import gotext

CHAIN = '{{if eq .fw "torch"}}T{{else if eq .fw "tf" "jax"}}F{{else}}N{{end}}'


@pytest.mark.parametrize(("fw", "out"), [("torch", "T"), ("tf", "F"), ("jax", "F"), ("x", "N")])
def test_if_else_if_else(fw, out):
    assert gotext.render(CHAIN, {"fw": fw}) == out


def test_nested_blocks_and_functions():
    text = '{{if ne .a ""}}{{if not .b}}no-b{{else}}b={{.b}}{{end}}{{end}}'
    assert gotext.render(text, {"a": "1", "b": ""}) == "no-b"
    assert gotext.render(text, {"a": "1", "b": "x"}) == "b=x"
    assert gotext.render(text, {"a": "", "b": "x"}) == ""
    both = '{{if and .a (eq .b "y")}}yes{{end}}{{if or .c .a}}!{{end}}'
    assert gotext.render(both, {"a": "1", "b": "y", "c": ""}) == "yes!"


def test_go_truth_of_text():
    # the values are text: "false" is a non-empty string, so it is true, as in Go
    assert gotext.render("{{if .v}}t{{else}}f{{end}}", {"v": "false"}) == "t"
    assert gotext.render("{{if .v}}t{{else}}f{{end}}", {"v": ""}) == "f"


def test_trim_markers_and_comments():
    assert gotext.render("a  {{- .x -}}  b{{/* note */}}", {"x": "X"}) == "aXb"


def test_unknown_names_are_errors():
    with pytest.raises(gotext.UnknownName) as caught:
        gotext.render('{{if eq .missing "a"}}x{{end}}', {})
    assert caught.value.name == "missing"


@pytest.mark.parametrize(
    "text", ["{{name}} {{.name}}", "{{if .name}}unclosed {{.name}}", "{{end}}{{.name}}"]
)
def test_what_go_cannot_parse_falls_back_to_literal_replacement(text):
    assert "v" in gotext.render(text, {"name": "v"})
    assert "{{.name}}" not in gotext.render(text, {"name": "v"})


def test_bounds():
    deep = "{{if .a}}" * (gotext.MAX_DEPTH + 2) + "x" + "{{end}}" * (gotext.MAX_DEPTH + 2)
    assert gotext.render(deep, {"a": "1"}) == deep  # too deep: left for the literal pass
    many = "{{.a}}" * (gotext.MAX_ACTIONS + 1)
    assert gotext.render(many, {"a": "1"}) == "1" * (gotext.MAX_ACTIONS + 1)


def test_names_lists_every_reference():
    assert gotext.names(CHAIN + "{{.other}} {{plain}}") == {"fw", "other", "plain"}
