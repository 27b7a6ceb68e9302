// Roster taps without a page reload; without this script the forms post and redirect back.
// A refused tap is said on its own row (and to screen readers), never only in a hidden region.
(function () {
  "use strict";
  // The page's words for what this script writes (web/script_words.py), English if absent.
  var WORDS = JSON.parse((document.getElementById("script-words") || {}).textContent || "{}");
  function word(key, fallback, values) {
    return (WORDS[key] || fallback).replace(/%\((\w+)\)[sd]/g, function (_, name) {
      return String(values[name]);
    });
  }
  var NEEDS_REASON = ["late", "absent_excused", "absent_unexcused"];
  var LABELS = {present: word("mark_present", "Present", {}), late: word("mark_late", "Late", {}),
                left_early: word("mark_left_early", "Left early", {}),
                absent_excused: word("mark_absent_excused", "Absent (excused)", {}),
                absent_unexcused: word("mark_absent_unexcused", "Absent (unexcused)", {})};
  var live = document.getElementById("roster-status");

  function say(text) {
    if (live) { live.textContent = text; }
  }

  function fieldOf(form, name) {
    return name ? form.querySelector("[name=" + name + "]") : null;
  }

  function clearError(form) {
    var error = form.querySelector("[data-error]");
    form.classList.remove("has-error");
    if (error) { error.textContent = ""; error.hidden = true; }
    form.querySelectorAll("[aria-invalid]").forEach(function (input) {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    });
  }

  // The row keeps its last saved mark; the message and the input at fault say what went wrong.
  function showError(form, name, message, fieldName) {
    clearError(form);
    var error = form.querySelector("[data-error]");
    form.classList.add("has-error");
    if (error) { error.textContent = message; error.hidden = false; }
    var field = fieldOf(form, fieldName);
    if (field) {
      var extra = form.querySelector("[data-extra]");
      if (extra) { extra.open = true; }
      field.setAttribute("aria-invalid", "true");
      if (error) { field.setAttribute("aria-describedby", error.id); }
      field.focus();
    }
    say(name + ": " + message);
  }

  document.querySelectorAll("form[data-roster]").forEach(function (form) {
    var reason = form.querySelector("[data-reason]");
    form.addEventListener("submit", function (event) {
      var button = event.submitter;
      if (!button || !window.fetch) { return; }
      var status = button.value;
      var name = form.querySelector("legend").textContent.trim();
      // Ask for the reason here rather than round-trip a refusal the service would give.
      if (NEEDS_REASON.indexOf(status) !== -1 && reason && !reason.value) {
        event.preventDefault();
        showError(form, name, word("needs_reason", "Not saved: choose a reason for %(mark)s.",
                                   {mark: LABELS[status].toLowerCase()}), "reason_code");
        return;
      }
      event.preventDefault();
      // A second tap while the first is saving does nothing. Not `disabled`: that would drop
      // the keyboard focus on the button to the page's start.
      if (button.getAttribute("aria-disabled") === "true") { return; }
      var data = new FormData(form);
      data.set("status", status);
      button.setAttribute("aria-disabled", "true");
      fetch(form.action, {method: "POST", body: data, credentials: "same-origin",
                          headers: {"X-Requested-With": "fetch"}})
        .then(function (response) {
          return response.json().then(function (body) { return {ok: response.ok, body: body}; });
        })
        .then(function (result) {
          if (!result.ok) {
            showError(form, name, result.body.error || word("not_saved", "Not saved.", {}), result.body.field);
            return;
          }
          clearError(form);
          form.querySelectorAll("button[name=status]").forEach(function (other) {
            other.setAttribute("aria-pressed", other.value === status ? "true" : "false");
          });
          var current = form.querySelector("[data-current]");
          if (current) { current.textContent = result.body.current ||
            word("now", "Now: %(mark)s", {mark: LABELS[status]}); }
          say(name + ": " + result.body.message);
        })
        .catch(function () {
          // The fetch failed: fall back to the plain form post, carrying the tapped status.
          var hidden = document.createElement("input");
          hidden.type = "hidden";
          hidden.name = "status";
          hidden.value = status;
          form.appendChild(hidden);
          form.submit();
        })
        .finally(function () { button.removeAttribute("aria-disabled"); });
    });
  });
})();
