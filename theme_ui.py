"""Topaz Cinema Slate: the app's look (theme, CSS) and the small head script behind the drawer.

Gradio 6 takes all three at `launch()` (see `app.launch_options()`). Two Gradio facts shape this
file: user CSS is scoped under `.gradio-container ... .contain`, so every toggled class lives on an
element inside it (`.aio-shell`, `.aio-header`), never on `body`/`html`; and `<script>` inside
`gr.HTML` is stripped, so the drawer's behaviour is one delegated listener set up from `head`.
"""

from __future__ import annotations

import json

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


CSS = f"""
.aio-shell {{ position: relative; gap: 0 !important; }}

/* header: z-index 15 stays under the HF Spaces widget (20); 60 while the drawer is open */
.block.aio-header {{
  position: sticky; top: 0; z-index: 15;
  background: {SLATE_950}; border-bottom: 1px solid {SLATE_700};
}}
.block.aio-header.drawer-elevated {{ z-index: 60; }}
.aio-header .aio-bar {{ display: flex; align-items: center; gap: 12px; padding: 10px 4px; }}
.aio-header .aio-title {{
  font-weight: 600; font-size: 1.05rem; color: {TEXT}; letter-spacing: .01em;
  flex: 1 1 auto; min-width: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
}}
.aio-header .aio-title small {{ color: {TEXT_MUTED}; font-weight: 400; margin-left: 6px; }}
.aio-hamburger {{
  display: inline-flex; align-items: center; justify-content: center;
  width: 38px; height: 38px; border-radius: 6px; cursor: pointer;
  background: {SLATE_800}; color: {TEXT}; border: 1px solid {SLATE_700}; font-size: 20px;
}}
.aio-hamburger:hover {{ border-color: {AMBER}; color: {AMBER}; }}
.aio-mode-tag {{
  margin-left: auto; flex: 0 0 auto; font-size: .8rem;
  font-family: 'IBM Plex Mono', ui-monospace, monospace;
  letter-spacing: .08em; padding: 4px 10px; border-radius: 999px;
  color: {AMBER_INK}; background: {AMBER}; font-weight: 600;
}}

.aio-body {{
  align-items: flex-start !important; gap: 16px !important; flex-wrap: nowrap !important;
}}
.aio-drawer {{
  background: {SLATE_900}; border-right: 1px solid {SLATE_700};
  padding: 12px 10px !important; gap: 6px !important;
}}
.aio-drawer .aio-drawer-label {{
  color: {TEXT_MUTED}; font-size: .72rem; letter-spacing: .12em; text-transform: uppercase;
  padding: 4px 8px;
}}
.aio-mode-btn {{ justify-content: flex-start !important; text-align: left !important; }}
.aio-mode-btn.primary {{ box-shadow: inset 3px 0 0 {AMBER_INK}; }}
/* its own stacking context: Gradio's form labels (z-index 40) stay under the sticky header */
.aio-main {{ min-width: 0 !important; isolation: isolate; }}
.block.aio-scrim {{ display: none; }}

@media (min-width: {PINNED_MIN_PX}px) {{
  .aio-hamburger {{ display: none; }}
  .aio-drawer {{
    position: sticky; top: {HEADER_PX + 8}px; flex: 0 0 220px !important; width: 220px !important;
    max-width: 220px !important; min-width: 220px !important; border-radius: 8px;
    border: 1px solid {SLATE_700}; max-height: calc(100vh - {HEADER_PX + 16}px); overflow-y: auto;
  }}
}}
@media (max-width: {PHONE_MAX_PX}px) {{
  .aio-header .aio-title small {{ display: none; }}
  .aio-header .aio-bar {{ padding: 2px 0; gap: 8px; }}
  .aio-hamburger {{ width: 34px; height: 34px; font-size: 18px; }}
}}
@media (max-width: {PINNED_MIN_PX - 0.02}px) {{
  /* Gradio's form labels sit at z-index 40: the scrim (45) and drawer (50) go above them */
  .aio-drawer {{
    position: fixed !important; top: 0; left: -100%; bottom: 0; z-index: 50;
    width: 260px !important; max-width: 80vw !important; min-width: 0 !important;
    padding-top: 100px !important; overflow-y: auto; transition: left .2s ease;
    box-shadow: 8px 0 24px rgba(0, 0, 0, .5);
  }}
  .aio-shell.drawer-open .aio-drawer {{ left: 0; }}
  .aio-shell.drawer-open .block.aio-scrim {{
    display: block; position: fixed; inset: 0; z-index: 45; background: rgba(5, 8, 12, .6);
  }}
}}

.aio-panel-head h2 {{ margin: 4px 0 2px; font-weight: 600; }}
.aio-panel-head p {{ color: {TEXT_MUTED}; margin: 0; }}
.aio-actions {{ gap: 8px; }}

/* where the user looks: the outcome under Generate, and the field a refusal names */
.aio-outcome, .aio-invalid {{ scroll-margin-top: {HEADER_PX + 12}px; scroll-margin-bottom: 12px; }}
.aio-invalid {{ outline: 2px solid #f87171 !important; outline-offset: -2px; border-radius: 6px; }}
.aio-panel .block[data-clamped]::after {{
  content: attr(data-clamped); display: block; margin-top: 4px; color: #fca5a5; font-size: .8rem;
}}
/* a slider's number box shows what is typed in it, six digits included */
.aio-panel input[data-testid=number-input] {{ width: 12ch !important; }}

/* status banner: classified message + what to do */
.aio-banner {{
  border: 1px solid {SLATE_700}; border-left-width: 4px; border-radius: 6px;
  padding: 10px 14px; margin: 4px 0 8px; background: {SLATE_900}; color: {TEXT};
  overflow-wrap: anywhere;
}}
.aio-banner code {{
  font-family: 'IBM Plex Mono', ui-monospace, monospace; font-size: .85em;
  background: {SLATE_800}; padding: 0 4px; border-radius: 4px;
}}
.aio-banner details {{ margin-top: 6px; }}
.aio-banner summary {{ cursor: pointer; color: {AMBER}; }}
.aio-banner details li {{ margin-top: 4px; }}
.aio-banner .aio-banner-title {{ font-weight: 600; margin-right: 8px; }}
.aio-banner .aio-banner-where {{
  font-family: 'IBM Plex Mono', ui-monospace, monospace; color: {TEXT_MUTED};
}}
.aio-banner .aio-banner-hint {{ margin-top: 4px; color: {TEXT_MUTED}; }}
.aio-banner ul {{ margin: 4px 0 0 18px; }}
.aio-banner--error {{ border-left-color: #f87171; background: rgba(248, 113, 113, .08); }}
.aio-banner--warn {{ border-left-color: {AMBER}; background: rgba(245, 165, 36, .08); }}
.aio-banner--info {{ border-left-color: #60a5fa; background: rgba(96, 165, 250, .08); }}
.aio-banner--ok {{ border-left-color: #34d399; background: rgba(52, 211, 153, .07); }}

/* tables (tables.py): batch queue, Models; History's record */
.aio-queue-head {{ padding: 8px 10px 4px; color: {TEXT_MUTED}; font-size: .85rem; }}
.aio-table, .aio-history-info {{
  width: 100%; border-collapse: collapse; font-size: .85rem; margin: 0 !important;
}}
.aio-table th, .aio-table td, .aio-history-info th, .aio-history-info td {{
  padding: 4px 8px; text-align: left; vertical-align: top;
  border: 0 !important; border-bottom: 1px solid {SLATE_700} !important;
}}
.aio-table, .aio-table tr {{ border: 0 !important; }}
.aio-table td {{ overflow-wrap: anywhere; }}
.aio-table th, .aio-history-info th {{ color: {TEXT_MUTED}; font-weight: 500; }}
.aio-table td.aio-nowrap {{ white-space: nowrap; }}
.aio-chip {{
  font-family: 'IBM Plex Mono', ui-monospace, monospace; font-size: .75rem; padding: 1px 8px;
  border-radius: 999px; background: {SLATE_800}; border: 1px solid {SLATE_700};
}}
.aio-chip--running {{ color: {AMBER}; border-color: {AMBER}; }}
.aio-chip--done {{ color: #34d399; border-color: #34d399; }}
.aio-chip--failed {{ color: #f87171; border-color: #f87171; }}
.aio-chip--cancelled {{ color: {TEXT_MUTED}; }}
/* the job grid grows with its rows instead of Gradio's fixed 450 px box */
#aio-history-gallery .grid-wrap.fixed-height {{ min-height: 0; max-height: 75vh; }}
"""

# Rules Gradio's CSS scoping would drop or misplace (it keeps plain and @media rules only, and
# puts every selector under `.contain`): they go into <head> as they are.
LAYOUT_CSS = f"""
/* Gradio's container hides overflow, which makes it a scroll box: the sticky header would stick
   to it instead of the window. `clip` clips the same without that. */
.gradio-container {{ overflow: clip !important; }}
@media (max-width: 640px) {{
  .gradio-container .main.app {{ padding-left: 8px !important; padding-right: 8px !important; }}
}}
/* A table is rows where its box is wide enough, one card per row where it is narrow. */
.aio-table-wrap {{ container-type: inline-size; width: 100%; }}
@container (max-width: {CARDS_BELOW_PX}px) {{
  .aio-table thead {{ display: none; }}
  .aio-table {{ border: 0 !important; }}
  .aio-table, .aio-table tbody, .aio-table tr {{ display: block; width: 100%; }}
  .aio-table-wrap .aio-table tr {{
    border: 1px solid {SLATE_700} !important; border-radius: 6px; margin: 0 0 8px;
    padding: 6px 10px; background: {SLATE_900} !important;
  }}
  .aio-table-wrap .aio-table td {{
    display: grid; grid-template-columns: minmax(6em, 34%) minmax(0, 1fr); gap: 8px;
    justify-items: start; border: 0 !important; padding: 2px 0 !important;
    white-space: normal !important; background: none !important;
  }}
  .aio-table td:empty {{ display: none; }}
  .aio-table td::before {{ content: attr(data-label); color: {TEXT_MUTED}; }}
}}
"""

# Delegated listeners: they keep working however often Gradio re-renders the buttons.
_HEAD_TEMPLATE = """
<script>
(function () {{
  var PINNED_MIN = {pinned_min};
  var TAGS = {tags};
  function shell() {{ return document.querySelector('.aio-shell'); }}
  function setOpen(open) {{
    var s = shell();
    if (!s) return;
    s.classList.toggle('drawer-open', open);
    var h = document.querySelector('.block.aio-header');
    if (h) h.classList.toggle('drawer-elevated', open);
    var b = document.querySelector('.aio-hamburger');
    if (b) b.setAttribute('aria-expanded', open ? 'true' : 'false');
  }}
  window.aioSetDrawer = setOpen;
  // A view can also be switched from Python ("use these settings" in History): the tag follows
  // whichever drawer button is the primary one.
  new MutationObserver(function () {{
    var active = document.querySelector('.aio-mode-btn.primary');
    var tag = document.getElementById('aio-mode-tag');
    var view = active ? (active.id || '').replace('aio-mode-', '') : '';
    if (tag && TAGS[view] && tag.textContent !== TAGS[view]) tag.textContent = TAGS[view];
  }}).observe(document.documentElement, {{
    subtree: true, attributes: true, attributeFilter: ['class']
  }});
  document.addEventListener('click', function (e) {{
    var t = e.target;
    if (!(t instanceof Element)) return;
    if (t.closest('.aio-hamburger')) {{
      var s = shell();
      setOpen(!(s && s.classList.contains('drawer-open')));
      return;
    }}
    var modeBtn = t.closest('.aio-mode-btn');
    if (modeBtn) {{
      var tag = document.getElementById('aio-mode-tag');
      var mode = (modeBtn.id || '').replace('aio-mode-', '');
      if (tag && TAGS[mode]) tag.textContent = TAGS[mode];
      if (window.innerWidth < PINNED_MIN) setOpen(false);
      return;
    }}
    var s2 = shell();
    if (s2 && s2.classList.contains('drawer-open') && !t.closest('.aio-drawer')) setOpen(false);
  }}, true);
  document.addEventListener('keydown', function (e) {{ if (e.key === 'Escape') setOpen(false); }});

  // Where the user looks: a panel's new outcome (next to its Generate button) is scrolled into
  // view, and the field a refusal names is marked, opening the section it is folded in.
  function later(test, done, frames) {{
    if (test()) return done(true);
    if (frames <= 0) return done(false);
    requestAnimationFrame(function () {{ later(test, done, frames - 1); }});
  }}
  function mark(panel, mode, field) {{
    var id = 'aio-' + mode + '-' + field;
    var folds = ['aio-' + mode + '-adv', 'aio-' + mode + '-batch'];
    function find() {{ return document.getElementById(id); }}
    function tryFold(i) {{
      var el = find();
      var fold = el && el.offsetParent === null && el.closest('.gr-accordion');
      if (fold) fold.querySelector('button.label-wrap').click();  // rendered, but folded away
      if (el) {{
        el.classList.add('aio-invalid');
        var input = el.querySelector('input, textarea');
        if (input) input.setAttribute('aria-invalid', 'true');
        return;
      }}
      if (i >= folds.length) return;
      var section = document.getElementById(folds[i]);
      var toggle = section && section.querySelector('button.label-wrap');
      if (!toggle) return tryFold(i + 1);
      toggle.click();
      later(find, function (found) {{
        if (!found) toggle.click();  // not in there: fold it back
        tryFold(found ? i : i + 1);
      }}, 30);
    }}
    tryFold(0);
  }}
  function reveal(outcome) {{
    var banner = outcome.querySelector('.aio-banner');
    var panel = outcome.closest('.aio-panel');
    if (!banner || !panel) return;
    var mode = panel.id.replace('aio-panel-', '');
    var fixes = document.getElementById('aio-fixes-' + mode);  // the fix it offers, if any
    var shown = function (el) {{ return !!el && el.offsetHeight > 0; }};
    // Gradio morphs an HTML component in place: what is new is the banner's markup (and the
    // fix buttons, which may be drawn a moment after it).
    var seen = banner.outerHTML + '|' + shown(fixes);
    if (outcome.aioShown === seen) return;
    if (outcome.aioMarked !== banner.outerHTML) {{
      outcome.aioMarked = banner.outerHTML;
      panel.querySelectorAll('.aio-invalid').forEach(function (el) {{
        el.classList.remove('aio-invalid');
      }});
      var field = banner.getAttribute('data-field');
      if (field) mark(panel, mode, field);
    }}
    outcome.aioShown = seen;
    later(function () {{ return shown(outcome); }}, function () {{
      outcome.scrollIntoView({{block: 'nearest'}});
      if (shown(fixes)) fixes.scrollIntoView({{block: 'nearest'}});
    }}, 30);
  }}
  var pending = [];
  function outcomeOf(node) {{
    var el = node instanceof Element ? node : node.parentElement;
    var fixes = el && el.closest('[id^="aio-fixes-"]');
    if (fixes) return document.getElementById(fixes.id.replace('aio-fixes-', 'aio-outcome-'));
    return el && el.closest('[id^="aio-outcome-"]');
  }}
  function schedule(outcome) {{
    if (!outcome || pending.indexOf(outcome) >= 0) return;
    if (!pending.length) requestAnimationFrame(function () {{
      var due = pending;
      pending = [];
      due.forEach(reveal);
    }});
    pending.push(outcome);
  }}
  new MutationObserver(function (changes) {{
    changes.forEach(function (change) {{
      schedule(outcomeOf(change.target));
      change.addedNodes.forEach(function (node) {{
        if (!(node instanceof Element)) return;
        schedule(outcomeOf(node));
        node.querySelectorAll('[id^="aio-outcome-"], [id^="aio-fixes-"]').forEach(function (el) {{
          schedule(outcomeOf(el));
        }});
      }});
    }});
  }}).observe(document.documentElement, {{
    childList: true, subtree: true, characterData: true,
    attributes: true, attributeFilter: ['class', 'data-field']
  }});
  document.addEventListener('input', function (e) {{
    var marked = e.target instanceof Element && e.target.closest('.aio-invalid');
    if (marked) marked.classList.remove('aio-invalid');
  }}, true);
  // A slider's number box takes any number and Gradio clamps it to the range without a word:
  // say what was typed and what is used instead.
  document.addEventListener('change', function (e) {{
    var box = e.target;
    if (!(box instanceof HTMLInputElement) || box.type !== 'number' || !box.max) return;
    var block = box.closest('.block');
    if (!block || !block.closest('.aio-panel')) return;
    var typed = parseFloat(box.value), min = parseFloat(box.min), max = parseFloat(box.max);
    if (isNaN(typed) || (typed >= min && typed <= max)) {{
      block.removeAttribute('data-clamped');
      return;
    }}
    var used = Math.min(max, Math.max(min, typed));
    block.setAttribute('data-clamped',
      typed + ' is outside ' + box.min + '..' + box.max + '; ' + used + ' is used.');
  }}, true);
}})();
</script>
<style>{layout_css}</style>
"""


def head_html(tags: dict[str, str]) -> str:
    """The `<head>` script and style; `tags` maps mode name -> the short tag in the header."""
    return _HEAD_TEMPLATE.format(
        pinned_min=PINNED_MIN_PX, tags=json.dumps(tags), layout_css=LAYOUT_CSS
    )


def header_html(title: str, subtitle: str, tag: str) -> str:
    return (
        '<div class="aio-bar">'
        '<button class="aio-hamburger" type="button" aria-label="Modes" aria-expanded="false">'
        "&#9776;</button>"
        f'<span class="aio-title">{title}<small>{subtitle}</small></span>'
        f'<span id="aio-mode-tag" class="aio-mode-tag">{tag}</span>'
        "</div>"
    )
