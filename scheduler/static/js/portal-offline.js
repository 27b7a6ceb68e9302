// Loaded by the client portal (/me) alone: registers the worker that shows the client their
// schedule when the phone is offline (static/js/offline-worker.js, served at /sw.js). Staff
// pages never load it, so no staff browser runs the worker.
(function () {
  "use strict";

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {
      // Private windows and old browsers refuse; the portal works as before without it.
    });
  }
}());
