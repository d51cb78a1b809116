"""The screen's themes: the files in `themes/` load into Textual themes that a real app accepts,
bad files are refused by name, and the chosen theme is remembered in control-room.toml."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest
from textual.app import App
from textual.color import Color

from control_room.config import load_settings
from control_room.default_config import DEFAULT_CONFIG
from control_room.domain import InvalidInput
from control_room.tui.themes import DEFAULT_THEME, load_themes, remember_theme, themes_folder

TOP_LEVEL = Path(__file__).resolve().parents[1] / "themes"
EXPECTED = {
    "control-room-dark": True,
    "control-room-light": False,
    "control-room-high-contrast": True,
}


def contrast(first: str, second: str) -> float:
    """The WCAG 2 contrast ratio of two opaque colours."""

    def luminance(text: str) -> float:
        channels = [value / 255 for value in Color.parse(text).rgb]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_three_themes_load_with_their_names_and_darkness() -> None:
    themes = load_themes()
    assert {name: theme.dark for name, theme in themes.items()} == EXPECTED
    assert DEFAULT_THEME in themes
    assert load_themes(TOP_LEVEL).keys() == themes.keys()


def test_the_packaged_folder_resolves_through_importlib_and_holds_the_files() -> None:
    folder = Path(str(files("control_room").joinpath("themes")))
    assert folder.is_dir()
    assert folder.resolve() == themes_folder().resolve()
    assert {path.stem for path in folder.glob("*.toml")} >= EXPECTED.keys()


async def test_every_theme_registers_and_applies_in_a_real_app() -> None:
    app: App[None] = App()
    async with app.run_test(size=(80, 24)) as pilot:
        for theme in load_themes().values():
            app.register_theme(theme)
            app.theme = theme.name
            await pilot.pause()
            assert app.theme == theme.name
            assert app.current_theme.background == theme.background


def test_the_high_contrast_theme_reads_at_seven_to_one() -> None:
    theme = load_themes()["control-room-high-contrast"]
    assert theme.background is not None and theme.foreground is not None
    assert contrast(theme.foreground, theme.background) >= 7
    for colour in (theme.primary, theme.secondary, theme.accent, theme.warning, theme.error):
        assert colour is not None and contrast(colour, theme.background) >= 7, colour


GOOD = 'name = "mine"\ndark = true\nprimary = "#336699"\n'


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (GOOD + 'sparkle = "#ffffff"\n', "sparkle"),
        (GOOD + 'background = "not-a-colour"\n', "background"),
        ('dark = true\nprimary = "#336699"\n', "name"),
        (GOOD.replace('"mine"', '"someone-else"'), "name"),
        (GOOD.replace("true", '"yes"'), "dark"),
        (GOOD + "text_alpha = 2\n", "text_alpha"),
        (GOOD + "[variables]\nborder = 3\n", "variables.border"),
    ],
    ids=["unknown", "colour", "no-name", "other-name", "dark", "fraction", "variable"],
)
def test_a_bad_theme_file_is_refused_naming_file_and_key(
    tmp_path: Path, text: str, key: str
) -> None:
    (tmp_path / "mine.toml").write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_themes(tmp_path)
    assert caught.value.field == f"{tmp_path / 'mine.toml'}: {key}"
    (tmp_path / "mine.toml").write_text(GOOD, encoding="utf-8")
    assert load_themes(tmp_path)["mine"].primary == "#336699"


def test_remember_theme_changes_only_the_theme_line(tmp_path: Path) -> None:
    config = tmp_path / "control-room.toml"
    text = DEFAULT_CONFIG.replace(
        'theme = "control-room-dark"', 'theme = "control-room-dark"  # the look'
    )
    config.write_text(text, encoding="utf-8")
    config.chmod(0o640)
    remember_theme(config, "control-room-light")
    after = config.read_text(encoding="utf-8")
    assert after == text.replace('"control-room-dark"  #', '"control-room-light"  #')
    assert load_settings(config).theme == "control-room-light"
    assert config.stat().st_mode & 0o777 == 0o640
    assert [path.name for path in tmp_path.iterdir()] == ["control-room.toml"]


def test_remember_theme_adds_the_key_or_the_section(tmp_path: Path) -> None:
    config = tmp_path / "control-room.toml"
    config.write_text("# mine\n[server]\nport = 4000 # kept\n", encoding="utf-8")
    remember_theme(config, "control-room-high-contrast")
    assert config.read_text(encoding="utf-8") == (
        '# mine\n[server]\nport = 4000 # kept\n\n[screen]\ntheme = "control-room-high-contrast"\n'
    )
    settings = load_settings(config)
    assert (settings.theme, settings.port) == ("control-room-high-contrast", 4000)

    config.write_text("[screen] # the look\n\n[leases]\nseconds = 60\n", encoding="utf-8")
    remember_theme(config, "control-room-light")
    assert config.read_text(encoding="utf-8") == (
        '[screen] # the look\ntheme = "control-room-light"\n\n[leases]\nseconds = 60\n'
    )
    assert load_settings(config).theme == "control-room-light"

    missing = tmp_path / "new.toml"
    remember_theme(missing, "control-room-dark")
    assert load_settings(missing).theme == "control-room-dark"
