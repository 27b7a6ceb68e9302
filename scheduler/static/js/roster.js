// Roster taps without a page reload; without this script the forms post and redirect back.
(function () {
  "use strict";
  var NEEDS_REASON = ["late", "absent_excused", "absent_unexcused"];
  var LABELS = {present: "Present", late: "Late", left_early: "Left early",
                absent_excused: "Absent (excused)", absent_unexcused: "Absent (unexcused)"};
  var live = document.getElementById("roster-status");

  function say(text) {
    if (live) { live.textContent = text; }
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
        reason.setAttribute("aria-invalid", "true");
        reason.focus();
        say(name + ": choose a reason for " + LABELS[status].toLowerCase() + ".");
        return;
      }
      event.preventDefault();
      var data = new FormData(form);
      data.set("status", status);
      button.disabled = true;
      fetch(form.action, {method: "POST", body: data, credentials: "same-origin",
                          headers: {"X-Requested-With": "fetch"}})
        .then(function (response) {
          return response.json().then(function (body) { return {ok: response.ok, body: body}; });
        })
        .then(function (result) {
          if (!result.ok) {
            say(name + ": " + (result.body.error || "not saved."));
            return;
          }
          form.querySelectorAll("button[name=status]").forEach(function (other) {
            other.setAttribute("aria-pressed", other.value === status ? "true" : "false");
          });
          if (reason) { reason.removeAttribute("aria-invalid"); }
          var current = form.querySelector("[data-current]");
          if (current) { current.textContent = "Now: " + LABELS[status]; }
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
        .finally(function () { button.disabled = false; });
    });
  });
})();
