// Searchable pickers (templates/calendar/_fields.html's `picker`). Without this script each is
// a select of the first matches plus a search box that reloads the page. With it, the two
// become one combobox (ARIA 1.2 pattern): typing asks the API's `?q=` list (debounced), the
// arrow keys move through the matches, Enter or a click picks one, and the chosen id goes
// into a hidden input carrying the select's name. The server checks the id either way.
(function () {
  "use strict";
  // The page's words for what this script writes (web/script_words.py), English if absent.
  var WORDS = JSON.parse((document.getElementById("script-words") || {}).textContent || "{}");
  function word(key, fallback, values) {
    return (WORDS[key] || fallback).replace(/%\((\w+)\)[sd]/g, function (_, name) {
      return String(values[name]);
    });
  }
  var DELAY_MS = 250;
  var SHOWN = 20;

  // A searcher for one picker: each call asks the API for `term` and hands the rows to
  // `show`, unless a later call has been made since (answers may arrive out of order).
  function searcher(box, params, show) {
    var asked = 0;
    return function (term, queryName) {
      var query = new URLSearchParams(params);
      if (term) { query.set(queryName || "q", term.slice(0, 100)); }
      query.set("per_page", String(SHOWN));
      var mine = ++asked;
      fetch(box.dataset.api + "?" + query.toString(), {
        credentials: "same-origin", headers: {Accept: "application/json"}
      }).then(function (response) {
        return response.ok ? response.json() : null;
      }).then(function (body) {
        if (mine !== asked || !body) { return; }
        show(body.items, body.total);
      }).catch(function () { /* the server still checks whatever is posted */ });
    };
  }

  // What a screen reader hears after each search.
  function matchWords(shown, total) {
    if (!shown) { return word("no_matches", "No matches.", {}); }
    if (total > shown) {
      return word("first_of", "First %(shown)s of %(total)s matches; type more to narrow.",
                  {shown: shown, total: total});
    }
    return shown + (shown === 1 ? " match." : " matches.");
  }

  function enhance(box, index) {
    var select = document.getElementById(box.dataset.for);
    if (!select || !window.fetch) { return; }
    var search = box.querySelector(".picker-search");
    var label = box.querySelector("label[for='" + select.id + "']");
    if (!search || !label) { return; }
    var params = JSON.parse(box.dataset.params || "{}");
    var chosen = select.options[select.selectedIndex];

    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = select.name;
    hidden.value = select.value;

    var input = document.createElement("input");
    var listId = select.id + "-listbox";
    input.type = "text";
    input.id = select.id + "-combo";
    input.className = "picker-input";
    input.autocomplete = "off";
    input.spellcheck = false;
    input.maxLength = 100;
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listId);
    input.placeholder = word("type_to_search", "Type to search", {});
    ["aria-invalid", "aria-describedby"].forEach(function (name) {
      if (select.hasAttribute(name)) { input.setAttribute(name, select.getAttribute(name)); }
    });
    if (chosen && chosen.value) { input.value = chosen.text; }

    var list = document.createElement("ul");
    list.id = listId;
    list.className = "picker-list";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", label.textContent.trim());
    list.hidden = true;

    var status = document.createElement("span");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");

    label.htmlFor = input.id;
    select.removeAttribute("name");
    select.hidden = true;
    select.disabled = true;
    search.hidden = true;
    // Its search box is no longer sent (on the week it belongs to the filter form itself).
    search.querySelectorAll("input, button").forEach(function (el) { el.disabled = true; });
    var more = box.querySelector(".picker-more");
    if (more) { more.hidden = true; }
    select.insertAdjacentElement("afterend", input);
    input.insertAdjacentElement("afterend", list);
    list.insertAdjacentElement("afterend", status);
    input.insertAdjacentElement("afterend", hidden);

    var active = -1;
    var timer = null;

    function options() { return list.querySelectorAll("[role=option]"); }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(next) {
      var all = options();
      if (!all.length) { return; }
      active = (next + all.length) % all.length;
      all.forEach(function (option, i) {
        option.setAttribute("aria-selected", i === active ? "true" : "false");
      });
      input.setAttribute("aria-activedescendant", all[active].id);
      all[active].scrollIntoView({block: "nearest"});
    }

    // A script's change to a hidden input fires nothing: say so, for the forms that listen
    // (the new-series preview).
    function changed() { hidden.dispatchEvent(new Event("change", {bubbles: true})); }

    function pick(option) {
      hidden.value = option.dataset.id;
      changed();
      input.value = option.textContent;
      status.textContent = option.textContent + " chosen.";
      close();
    }

    function show(rows, total) {
      // The answer for the last letters typed can arrive after the person has arrowed to a
      // match of the one before (a slow line): that match stays highlighted if still listed.
      var current = active >= 0 && options()[active] ? options()[active].dataset.id : null;
      list.textContent = "";
      rows.forEach(function (row, i) {
        var option = document.createElement("li");
        option.id = listId + "-" + i;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.dataset.id = row.id;
        option.textContent = row.name || row.title || row.email;
        option.addEventListener("mousedown", function (event) { event.preventDefault(); });
        option.addEventListener("click", function () { pick(option); });
        list.appendChild(option);
      });
      if (!rows.length) {
        var none = document.createElement("li");
        none.className = "muted";
        none.textContent = word("no_matches", "No matches.", {});
        list.appendChild(none);
      }
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      active = -1;
      input.removeAttribute("aria-activedescendant");
      status.textContent = matchWords(rows.length, total);
      var again = rows.findIndex(function (row) { return String(row.id) === current; });
      if (again >= 0) { highlight(again); }
    }

    var find = searcher(box, params, show);

    function ask() {
      var term = input.value.trim();
      if (!term) { close(); return; }
      find(term, box.dataset.query);
    }

    input.addEventListener("input", function () {
      hidden.value = "";
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, DELAY_MS);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (list.hidden) { ask(); return; }
        highlight(active + (event.key === "ArrowDown" ? 1 : -1));
      } else if (event.key === "Enter" && !list.hidden) {
        event.preventDefault();
        var all = options();
        if (active >= 0 && all[active]) { pick(all[active]); }
      } else if (event.key === "Escape" && !list.hidden) {
        event.preventDefault();
        close();
      }
    });
    input.addEventListener("blur", close);
    box.dataset.enhanced = String(index);
  }

  // Several choices (a series' facilitators): the fieldset of checkboxes stays, and typing in
  // its search box lists the API's matches as more checkboxes instead of reloading the page.
  // Ticked boxes always stay; unticked ones give way to the new matches.
  function enhanceChecks(box) {
    var search = box.querySelector(".picker-search input[type=search]");
    var button = box.querySelector(".picker-search button");
    var options = box.querySelector(".picker-options");
    var status = box.querySelector("[role=status]");
    if (!search || !options || !window.fetch) { return; }
    var params = JSON.parse(box.dataset.params || "{}");
    var timer = null;
    search.removeAttribute("form");
    search.removeAttribute("name");
    if (button) { button.hidden = true; }

    function show(rows, total) {
      var ticked = {};
      options.querySelectorAll("label").forEach(function (label) {
        var check = label.querySelector("input");
        if (check && check.checked) { ticked[check.value] = true; } else { label.remove(); }
      });
      options.querySelectorAll(".muted").forEach(function (note) { note.remove(); });
      rows.forEach(function (row) {
        if (ticked[String(row.id)]) { return; }
        var label = document.createElement("label");
        label.className = "check";
        var input = document.createElement("input");
        input.type = "checkbox";
        input.name = box.dataset.name;
        input.value = row.id;
        label.appendChild(input);
        label.appendChild(document.createTextNode(" " + (row.name || row.title || row.email)));
        options.appendChild(label);
      });
      if (status) { status.textContent = matchWords(rows.length, total); }
    }

    var find = searcher(box, params, show);

    function ask() { find(search.value.trim()); }

    search.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, DELAY_MS);
    });
    // Enter searches at once rather than posting the series form.
    search.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); window.clearTimeout(timer); ask(); }
    });
    box.dataset.enhanced = "checks";
  }

  document.querySelectorAll("[data-picker]").forEach(enhance);
  document.querySelectorAll("[data-picker-checks]").forEach(enhanceChecks);
})();
