"""Topaz Cinema Slate: the app's look (theme, CSS) and the small head script behind the drawer.

Gradio 6 takes all three at `launch()` (see `app.launch_options()`). Two Gradio facts shape this
file: user CSS is scoped under `.gradio-container ... .contain`, so every toggled class lives on an
element inside it (`.aio-shell`, `.aio-header`), never on `body`/`html`; and `<script>` inside
`gr.HTML` is stripped, so the drawer's behaviour is one delegated listener set up from `head`.
The CSS and the script are asset files (assets/app.css, layout.css, head.js); `${NAME}` in them
takes the colours and sizes declared here, so one value is set in one place.
"""

from __future__ import annotations

import json
from pathlib import Path
from string import Template

import gradio as gr

SLATE_950 = "#0b0f14"
SLATE_900 = "#11161d"
SLATE_850 = "#161c25"
SLATE_800 = "#1c2430"
SLATE_700 = "#2a3442"
SLATE_500 = "#5b6776"
TEXT = "#e7eaee"
TEXT_MUTED = "#9aa5b3"
AMBER = "#f5a524"
AMBER_HOVER = "#ffb84a"
AMBER_INK = "#1b1204"

# Pinned sidebar from this width up; an overlay drawer below it.
PINNED_MIN_PX = 1024
# Below this width the header drops its subtitle and the page its side margins.
PHONE_MAX_PX = 640
# A table whose box is narrower than this shows a card per row.
CARDS_BELOW_PX = 460
# The sticky header's height: what a scrolled-to element keeps clear above it.
HEADER_PX = 68

ASSETS = Path(__file__).resolve().parent / "assets"


def _asset(name: str) -> str:
    """assets/<name> with this module's values put in (`${NAME}`: the colours and sizes above,
    and the sums the CSS needs)."""
    values = {k: v for k, v in globals().items() if k.isupper() and isinstance(v, (str, int))}
    values.update(
        SIDEBAR_TOP_PX=HEADER_PX + 8,  # the pinned sidebar sits this far down
        SIDEBAR_CLEAR_PX=HEADER_PX + 16,  # and is at most the window less this tall
        DRAWER_MAX_PX=PINNED_MIN_PX - 0.02,  # the overlay drawer's widest window
        SCROLL_CLEAR_PX=HEADER_PX + 12,  # a scrolled-to outcome keeps this clear above it
    )
    return Template((ASSETS / name).read_text()).substitute(values)


def build_theme() -> gr.themes.Base:
    theme = gr.themes.Base(
        primary_hue=gr.themes.colors.amber,
        secondary_hue=gr.themes.colors.slate,
        neutral_hue=gr.themes.colors.slate,
        radius_size=gr.themes.sizes.radius_sm,
        font=[gr.themes.GoogleFont("IBM Plex Sans"), "ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=[gr.themes.GoogleFont("IBM Plex Mono"), "ui-monospace", "monospace"],
    ).set(
        body_background_fill_dark=SLATE_950,
        body_text_color_dark=TEXT,
        body_text_color_subdued_dark=TEXT_MUTED,
        background_fill_primary_dark=SLATE_900,
        background_fill_secondary_dark=SLATE_850,
        border_color_primary_dark=SLATE_700,
        border_color_accent_dark=AMBER,
        color_accent_soft_dark="rgba(245, 165, 36, 0.14)",
        link_text_color_dark=AMBER,
        link_text_color_hover_dark=AMBER_HOVER,
        link_text_color_visited_dark=AMBER,
        link_text_color_active_dark=AMBER,
        block_background_fill_dark=SLATE_900,
        block_border_color_dark=SLATE_700,
        block_label_background_fill_dark=SLATE_850,
        block_label_text_color_dark=TEXT_MUTED,
        block_title_text_color_dark=TEXT,
        block_info_text_color_dark=TEXT_MUTED,
        panel_background_fill_dark=SLATE_850,
        panel_border_color_dark=SLATE_700,
        input_background_fill_dark=SLATE_850,
        input_background_fill_focus_dark=SLATE_800,
        input_border_color_dark=SLATE_700,
        input_border_color_focus_dark=AMBER,
        input_placeholder_color_dark=SLATE_500,
        slider_color_dark=AMBER,
        loader_color_dark=AMBER,
        checkbox_background_color_selected_dark=AMBER,
        checkbox_border_color_selected_dark=AMBER,
        checkbox_label_background_fill_dark=SLATE_850,
        checkbox_label_background_fill_selected_dark=SLATE_800,
        checkbox_label_border_color_selected_dark=AMBER,
        checkbox_label_text_color_selected_dark=TEXT,
        button_primary_background_fill_dark=AMBER,
        button_primary_background_fill_hover_dark=AMBER_HOVER,
        button_primary_text_color_dark=AMBER_INK,
        button_primary_text_color_hover_dark=AMBER_INK,
        button_primary_border_color_dark=AMBER,
        button_secondary_background_fill_dark=SLATE_800,
        button_secondary_background_fill_hover_dark=SLATE_700,
        button_secondary_text_color_dark=TEXT,
        button_secondary_border_color_dark=SLATE_700,
        button_cancel_background_fill_dark="#3a1d1d",
        button_cancel_background_fill_hover_dark="#4a2323",
        button_cancel_text_color_dark="#fecaca",
        button_cancel_border_color_dark="#7f1d1d",
        code_background_fill_dark=SLATE_850,
        table_even_background_fill_dark=SLATE_900,
        table_odd_background_fill_dark=SLATE_850,
    )
    # The slate look is the only look: light mode gets the dark values too, whatever the OS says.
    for name, value in list(vars(theme).items()):
        if name.endswith("_dark") and value is not None:
            setattr(theme, name[: -len("_dark")], value)
    return theme


CSS = "\n" + _asset("app.css")

# Rules Gradio's CSS scoping would drop or misplace (it keeps plain and @media rules only, and
# puts every selector under `.contain`): they go into <head> as they are.
LAYOUT_CSS = "\n" + _asset("layout.css")

# Delegated listeners: they keep working however often Gradio re-renders the buttons.
_HEAD_JS = Template((ASSETS / "head.js").read_text())


def head_html(tags: dict[str, str]) -> str:
    """The `<head>` script and style; `tags` maps mode name -> the short tag in the header."""
    script = _HEAD_JS.substitute(pinned_min=PINNED_MIN_PX, tags=json.dumps(tags))
    return f"\n<script>\n{script}</script>\n<style>{LAYOUT_CSS}</style>\n"


def header_html(title: str, subtitle: str, tag: str) -> str:
    return (
        '<div class="aio-bar">'
        '<button class="aio-hamburger" type="button" aria-label="Modes" aria-expanded="false">'
        "&#9776;</button>"
        f'<span class="aio-title">{title}<small>{subtitle}</small></span>'
        f'<span id="aio-mode-tag" class="aio-mode-tag">{tag}</span>'
        "</div>"
    )
