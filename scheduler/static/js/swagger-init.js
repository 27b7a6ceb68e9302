// Starts Swagger UI on /api/v1/docs from the settings in the container's data attributes;
// a static file so the Content-Security-Policy can forbid inline script.
(function () {
  "use strict";
  var container = document.getElementById("swagger-ui-container");
  var config = JSON.parse(container.dataset.config || "{}");
  config.url = container.dataset.specUrl;
  config.dom_id = "#swagger-ui-container";
  window.addEventListener("load", function () {
    window.ui = SwaggerUIBundle(config);
  });
})();
