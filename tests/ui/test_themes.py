"""Themes are data files; every one loads and can be chosen; a bad name is a usage error."""

from __future__ import annotations

from joytui.cli import main
from joytui.ui.themes import load_themes
from tests.ui.conftest import make_app, settle


def test_four_themes_ship_and_load():
    themes, problems = load_themes()
    assert not problems
    assert {"joy-dark", "joy-light", "joy-high-contrast", "joy-16"} <= set(themes)
    assert themes["joy-16"].to_theme().ansi is True


def test_bad_theme_file_is_reported_not_fatal(tmp_path):
    (tmp_path / "broken.toml").write_text('name = "broken"\n')  # no primary colour
    (tmp_path / "ok.toml").write_text('name = "ok"\nprimary = "#112233"\n')
    themes, problems = load_themes([tmp_path])
    assert set(themes) == {"ok"} and len(problems) == 1 and "broken.toml" in problems[0]


def test_unknown_theme_is_bad_usage(capsys):
    assert main(["demo", "--theme", "no-such-theme"]) == 2
    assert "unknown theme" in capsys.readouterr().err


async def test_every_theme_renders_and_t_cycles(demo_config):
    app = make_app(demo_config, theme="joy-16")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        seen = {app.theme}
        for _ in range(4):
            await pilot.press("t")
            seen.add(app.theme)
            app.export_screenshot()  # renders with that theme without error
        assert {"joy-dark", "joy-light", "joy-high-contrast", "joy-16"} <= seen
