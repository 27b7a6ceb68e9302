// The client portal's service worker, served at /sw.js (web/brand.py) so that its scope is the
// whole site: the home-screen app starts at "/", which sends a client on to /me.
//
// What it keeps: one page, /me/offline, the client's schedule and nothing else (no forms, no
// CSRF token, no email, no consents, never the one-time calendar link: web/portal.py renders it
// apart from /me for that reason), plus the stylesheets and icons that page uses (ASSETS). It
// never stores /me itself, a staff page, a POST's answer or anything its server marked no-store.
//
// When: network first. Online, every page comes from the server as if there were no worker;
// the copy is only refreshed after /me loads. Offline, a visit to /me or "/" gets the copy,
// whose banner says how old it is.
//
// Until when: sign-out answers Clear-Site-Data, which drops it (and this worker) where the
// browser supports that header; for the others, and for a login that simply ran out, any
// visit to the sign-in page (where sign-out, expiry and the next person's sign-in all lead)
// or a /me that is not this client's portal any more deletes it here too.
"use strict";

var CACHE = "portal-offline-v1";
var COPY = "/me/offline";
// What the offline page draws with: its stylesheets, and the icons its tab shows (as every
// page's do): a browser that asks for an icon offline gets it, not a console error.
var ASSETS = ["/static/app.css", "/static/portal.css", "/favicon.ico", "/static/icons/icon.svg"];
var SHOWN_OFFLINE = ["/", "/me"];
var SIGN_IN = "/login";

function storable(response) {
  var cacheControl = response.headers.get("Cache-Control") || "";
  return response.ok && !response.redirected && response.type === "basic"
    && !/no-store/i.test(cacheControl);
}

function refreshCopy() {
  // Credentials go with it (same origin): the copy is of whoever is signed in right now.
  return Promise.all([COPY].concat(ASSETS).map(function (url) {
    return fetch(url, { cache: "no-cache" }).then(function (response) {
      return storable(response) ? response : null;
    });
  })).then(function (responses) {
    if (responses[0] === null) {
      // No client's schedule behind it (signed out, another role): keep nothing at all.
      return forget();
    }
    return caches.open(CACHE).then(function (cache) {
      var urls = [COPY].concat(ASSETS);
      return Promise.all(responses.map(function (response, index) {
        return response ? cache.put(urls[index], response) : null;
      }));
    });
  }).catch(function () {
    // Offline or a failed answer: the copy held stays as it was.
  });
}

function forget() {
  return caches.keys().then(function (names) {
    return Promise.all(names.map(function (name) { return caches.delete(name); }));
  });
}

self.addEventListener("install", function (event) {
  // The page that registered the worker is /me: it is signed in, so take the first copy now.
  event.waitUntil(refreshCopy().then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) {
    return;
  }
  if (request.mode === "navigate") {
    if (url.pathname === SIGN_IN) {
      event.waitUntil(forget());
      return;
    }
    if (SHOWN_OFFLINE.indexOf(url.pathname) !== -1) {
      event.respondWith(liveOrCopy(event, request, url));
    }
    return;
  }
  if (ASSETS.indexOf(url.pathname) !== -1) {
    event.respondWith(fetch(request).catch(function (error) {
      return caches.match(url.pathname).then(function (kept) {
        if (kept) { return kept; }
        throw error;
      });
    }));
  }
});

function liveOrCopy(event, request, url) {
  return fetch(request).then(function (response) {
    if (url.pathname === "/me") {
      if (response.ok && !response.redirected) {
        event.waitUntil(refreshCopy());
      } else if (response.status === 401 || response.status === 403) {
        // Someone other than a client is signed in here now.
        event.waitUntil(forget());
      }
    }
    return response;
  }, function (error) {
    return caches.match(COPY).then(function (kept) {
      if (kept) { return kept; }
      throw error;
    });
  });
}
