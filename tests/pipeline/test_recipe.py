"""Recipes hold every option, refuse unknown keys and round-trip through TOML."""

from __future__ import annotations

import pytest

from litefleet.errors import UserError
from litefleet.pipeline.recipe import Recipe, load_recipe, parse_recipe, recipe_to_toml


def test_round_trip(tmp_path):
    recipe = Recipe().with_overrides(
        {"prune.final_sparsity": 0.8, "distill.student_hidden": [24, 12], "seed": 3}
    )
    path = tmp_path / "r.toml"
    path.write_text(recipe_to_toml(recipe))
    assert load_recipe(path) == recipe


def test_relative_paths_are_relative_to_the_recipe(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "r.toml").write_text('[data]\npath = "d.npz"\n')
    assert load_recipe(tmp_path / "sub" / "r.toml").data.path == tmp_path / "sub" / "d.npz"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"trian": {}}, "trian: unknown key"),
        ({"prune": {"initial_sparsity": 0.6, "final_sparsity": 0.5}}, "below"),
        ({"train": {"epochs": 0}}, "train.epochs 0 means no training"),
        ({"model": {"as_is": True}}, "model.as_is needs model.path"),
        ({"model": {"as_is": True, "path": "m.keras"}, "train": {"trainable": "last"}}, "as_is"),
        ({"train": {"trainable": "some"}}, "train.trainable"),
    ],
)
def test_bad_recipes_name_the_problem(data, needle):
    with pytest.raises(UserError, match=needle):
        parse_recipe(data, source="test")
