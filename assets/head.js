(function () {
  var PINNED_MIN = ${pinned_min};
  var TAGS = ${tags};
  function shell() { return document.querySelector('.aio-shell'); }
  function setOpen(open) {
    var s = shell();
    if (!s) return;
    s.classList.toggle('drawer-open', open);
    var h = document.querySelector('.block.aio-header');
    if (h) h.classList.toggle('drawer-elevated', open);
    var b = document.querySelector('.aio-hamburger');
    if (b) b.setAttribute('aria-expanded', open ? 'true' : 'false');
  }
  window.aioSetDrawer = setOpen;
  // A view can also be switched from Python ("use these settings" in History): the tag follows
  // whichever drawer button is the primary one.
  new MutationObserver(function () {
    var active = document.querySelector('.aio-mode-btn.primary');
    var tag = document.getElementById('aio-mode-tag');
    var view = active ? (active.id || '').replace('aio-mode-', '') : '';
    if (tag && TAGS[view] && tag.textContent !== TAGS[view]) tag.textContent = TAGS[view];
  }).observe(document.documentElement, {
    subtree: true, attributes: true, attributeFilter: ['class']
  });
  document.addEventListener('click', function (e) {
    var t = e.target;
    if (!(t instanceof Element)) return;
    if (t.closest('.aio-hamburger')) {
      var s = shell();
      setOpen(!(s && s.classList.contains('drawer-open')));
      return;
    }
    var modeBtn = t.closest('.aio-mode-btn');
    if (modeBtn) {
      var tag = document.getElementById('aio-mode-tag');
      var mode = (modeBtn.id || '').replace('aio-mode-', '');
      if (tag && TAGS[mode]) tag.textContent = TAGS[mode];
      if (window.innerWidth < PINNED_MIN) setOpen(false);
      return;
    }
    var s2 = shell();
    if (s2 && s2.classList.contains('drawer-open') && !t.closest('.aio-drawer')) setOpen(false);
  }, true);
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') setOpen(false); });

  // Where the user looks: a panel's new outcome (next to its Generate button) is scrolled into
  // view, and the field a refusal names is marked, opening the section it is folded in.
  function later(test, done, frames) {
    if (test()) return done(true);
    if (frames <= 0) return done(false);
    requestAnimationFrame(function () { later(test, done, frames - 1); });
  }
  function mark(panel, mode, field) {
    var id = 'aio-' + mode + '-' + field;
    var folds = ['aio-' + mode + '-adv', 'aio-' + mode + '-batch'];
    function find() { return document.getElementById(id); }
    function tryFold(i) {
      var el = find();
      var fold = el && el.offsetParent === null && el.closest('.gr-accordion');
      if (fold) fold.querySelector('button.label-wrap').click();  // rendered, but folded away
      if (el) {
        el.classList.add('aio-invalid');
        var input = el.querySelector('input, textarea');
        if (input) input.setAttribute('aria-invalid', 'true');
        return;
      }
      if (i >= folds.length) return;
      var section = document.getElementById(folds[i]);
      var toggle = section && section.querySelector('button.label-wrap');
      if (!toggle) return tryFold(i + 1);
      toggle.click();
      later(find, function (found) {
        if (!found) toggle.click();  // not in there: fold it back
        tryFold(found ? i : i + 1);
      }, 30);
    }
    tryFold(0);
  }
  function reveal(outcome) {
    var banner = outcome.querySelector('.aio-banner');
    var panel = outcome.closest('.aio-panel');
    if (!banner || !panel) return;
    var mode = panel.id.replace('aio-panel-', '');
    var fixes = document.getElementById('aio-fixes-' + mode);  // the fix it offers, if any
    var shown = function (el) { return !!el && el.offsetHeight > 0; };
    // Gradio morphs an HTML component in place: what is new is the banner's markup (and the
    // fix buttons, which may be drawn a moment after it).
    var seen = banner.outerHTML + '|' + shown(fixes);
    if (outcome.aioShown === seen) return;
    if (outcome.aioMarked !== banner.outerHTML) {
      outcome.aioMarked = banner.outerHTML;
      panel.querySelectorAll('.aio-invalid').forEach(function (el) {
        el.classList.remove('aio-invalid');
      });
      var field = banner.getAttribute('data-field');
      if (field) mark(panel, mode, field);
    }
    outcome.aioShown = seen;
    later(function () { return shown(outcome); }, function () {
      outcome.scrollIntoView({block: 'nearest'});
      if (shown(fixes)) fixes.scrollIntoView({block: 'nearest'});
    }, 30);
  }
  var pending = [];
  function outcomeOf(node) {
    var el = node instanceof Element ? node : node.parentElement;
    var fixes = el && el.closest('[id^="aio-fixes-"]');
    if (fixes) return document.getElementById(fixes.id.replace('aio-fixes-', 'aio-outcome-'));
    return el && el.closest('[id^="aio-outcome-"]');
  }
  function schedule(outcome) {
    if (!outcome || pending.indexOf(outcome) >= 0) return;
    if (!pending.length) requestAnimationFrame(function () {
      var due = pending;
      pending = [];
      due.forEach(reveal);
    });
    pending.push(outcome);
  }
  new MutationObserver(function (changes) {
    changes.forEach(function (change) {
      schedule(outcomeOf(change.target));
      change.addedNodes.forEach(function (node) {
        if (!(node instanceof Element)) return;
        schedule(outcomeOf(node));
        node.querySelectorAll('[id^="aio-outcome-"], [id^="aio-fixes-"]').forEach(function (el) {
          schedule(outcomeOf(el));
        });
      });
    });
  }).observe(document.documentElement, {
    childList: true, subtree: true, characterData: true,
    attributes: true, attributeFilter: ['class', 'data-field']
  });
  document.addEventListener('input', function (e) {
    var marked = e.target instanceof Element && e.target.closest('.aio-invalid');
    if (marked) marked.classList.remove('aio-invalid');
  }, true);
  // A slider's number box takes any number and Gradio clamps it to the range without a word:
  // say what was typed and what is used instead.
  document.addEventListener('change', function (e) {
    var box = e.target;
    if (!(box instanceof HTMLInputElement) || box.type !== 'number' || !box.max) return;
    var block = box.closest('.block');
    if (!block || !block.closest('.aio-panel')) return;
    var typed = parseFloat(box.value), min = parseFloat(box.min), max = parseFloat(box.max);
    if (isNaN(typed) || (typed >= min && typed <= max)) {
      block.removeAttribute('data-clamped');
      return;
    }
    var used = Math.min(max, Math.max(min, typed));
    block.setAttribute('data-clamped',
      typed + ' is outside ' + box.min + '..' + box.max + '; ' + used + ' is used.');
  }, true);
})();
