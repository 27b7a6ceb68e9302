// New-series form: a live preview of the sessions it would make and their conflicts.
// The server runs the real create_series and rolls it back, so the preview cannot disagree
// with what saving does. No framework and no CDN: clinic networks often block them.
(function () {
  "use strict";
  // The page's words for what this script writes (web/script_words.py), English if absent.
  var WORDS = JSON.parse((document.getElementById("script-words") || {}).textContent || "{}");
  function word(key, fallback, values) {
    return (WORDS[key] || fallback).replace(/%\((\w+)\)[sd]/g, function (_, name) {
      return String(values[name]);
    });
  }

  var form = document.querySelector("form[data-preview-url]");
  if (!form) { return; }
  var out = document.getElementById("series-preview");
  var tokenInput = form.querySelector("input[name=csrf_token]");
  var timer = null;
  var latest = 0;

  var LABELS = { room: word("clash_room", "Room", {}), staff: word("clash_staff", "Staff", {}),
                 staff_time_off: word("clash_staff_time_off", "Staff time off", {}) };

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text) { node.textContent = text; }
    if (className) { node.className = className; }
    return node;
  }

  // The server sends local ISO times ("2027-03-01T18:00:00-05:00"): show the wall clock as is.
  function wallClock(iso) {
    return iso.slice(0, 10) + " " + iso.slice(11, 16);
  }

  // Name a field as its label does ("Seats", not "capacity"); weekday boxes share a legend.
  function labelOf(name) {
    var input = form.querySelector('[name="' + name + '"]');
    var label = input && input.id && form.querySelector('label[for="' + input.id + '"]');
    var legend = input && input.closest("fieldset") && input.closest("fieldset").querySelector("legend");
    var text = (label || legend || {}).textContent || name;
    return text.replace(/\s*\(.*\)\s*$/, "").trim();
  }

  function show(nodes) {
    out.replaceChildren.apply(out, nodes);
  }

  // A blank Seats field gets the kind's default within the room: show which, as the server
  // computed it for the kind and room now chosen.
  var seats = form.querySelector("input[name=capacity]");
  function showDefaultSeats(data) {
    if (seats && data.capacity && !seats.value) { seats.placeholder = String(data.capacity); }
  }

  function render(status, data) {
    showDefaultSeats(data);
    if (status === 422 || data.errors) {
      var names = Object.keys(data.errors || {});
      var first = names.length ? labelOf(names[0]) + ": " + data.errors[names[0]].join(" ") : "";
      show([el("p", word("not_ready", "Not ready to preview yet.", {}) + " " + first, "muted")]);
      return;
    }
    var count = el("p", data.occurrences === 1
      ? word("sessions_one", "%(num)d session would be made.", {num: 1})
      : word("sessions_other", "%(num)d sessions would be made.", {num: data.occurrences}));
    // Holidays and closures: allowed, but worth a second look before saving.
    var notes = (data.warnings || []).map(function (w) { return el("p", w, "preview-warn"); });
    if (!data.conflicts.length) {
      show([count].concat(notes, [el("p", word("no_conflicts", "No conflicts.", {}), "preview-ok")]));
      return;
    }
    var n = data.conflicts.length;
    var heading = el("p", n === 1
      ? word("conflicts_one", "%(num)d conflict: saving will be refused.", {num: 1})
      : word("conflicts_other", "%(num)d conflicts: saving will be refused.", {num: n}),
      "preview-bad");
    var list = el("ul", null, "conflicts");
    data.conflicts.forEach(function (c) {
      list.appendChild(el("li", wallClock(c.session_start) + " — " +
        (LABELS[c.what] || c.what) + ": " + c["with"]));
    });
    show([count].concat(notes, [heading, list]));
  }

  function preview() {
    var mine = ++latest;
    fetch(form.dataset.previewUrl, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-CSRFToken": tokenInput ? tokenInput.value : "", "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(function (data) { return [response.status, data]; });
    }).then(function (result) {
      if (mine === latest) { render(result[0], result[1]); }  // an older answer is stale
    }).catch(function () {
      if (mine === latest) {
        show([el("p", word("preview_unavailable", "The preview is not available right now.", {}),
                  "muted")]);
      }
    });
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(preview, 300);
  }

  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
}());
