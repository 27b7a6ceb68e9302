// Starts Swagger UI on /api/v1/docs from the settings in the container's data attributes;
// a static file so the Content-Security-Policy can forbid inline script.
(function () {
  "use strict";
  var container = document.getElementById("swagger-ui-container");
  var config = JSON.parse(container.dataset.config || "{}");
  config.url = container.dataset.specUrl;
  config.dom_id = "#swagger-ui-container";
  // "Try it out" while signed in to the pages rides on the sign-in cookie: the API takes a
  // change from it only with the page's CSRF token (the browser adds the Origin itself).
  var meta = document.querySelector("meta[name=csrf-token]");
  config.requestInterceptor = function (req) {
    if (meta && req.method && req.method.toUpperCase() !== "GET") {
      req.headers["X-CSRFToken"] = meta.getAttribute("content");
    }
    return req;
  };
  // Swagger UI's example boxes scroll but cannot take focus, so a keyboard cannot scroll
  // them (WCAG 2.1.1); each one it draws is made focusable.
  function focusableExamples(root) {
    root.querySelectorAll(".highlight-code pre:not([tabindex])").forEach(function (pre) {
      pre.setAttribute("tabindex", "0");
    });
  }
  window.addEventListener("load", function () {
    window.ui = SwaggerUIBundle(config);
    new MutationObserver(function () { focusableExamples(container); })
      .observe(container, {childList: true, subtree: true});
  });
})();
