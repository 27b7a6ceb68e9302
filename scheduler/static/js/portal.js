// The client portal: a copy button beside the calendar link. Without this script the link
// still sits in a read-only box, ready to select and copy by hand.
(function () {
  "use strict";

  var status = document.getElementById("copy-status");

  function say(text) {
    if (status) { status.textContent = text; }
  }

  function copyByHand(input) {
    input.focus();
    input.select();
    try {
      return document.execCommand("copy");
    } catch (ignored) {
      return false;
    }
  }

  document.querySelectorAll("input[data-copy-label]").forEach(function (input) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy-button";
    button.textContent = input.dataset.copyLabel;
    input.insertAdjacentElement("afterend", button);
    button.addEventListener("click", function () {
      // The words come from the page (data-copied, data-copy-by-hand): the page is translated.
      var done = function () { say(input.dataset.copied || "Link copied. Paste it into your calendar app."); };
      var fallback = function () {
        if (copyByHand(input)) { done(); } else { say(input.dataset.copyByHand || "Select the link and copy it."); }
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, fallback);
      } else {
        fallback();
      }
    });
  });
}());
