"""Calendar feeds: secret-URL iCalendar files that phones poll, cheap to serve, revealing nothing.

- `tokens`: create, rotate, revoke and resolve feed tokens (stored hashed).
- `versions`: a counter per feed that every relevant write bumps; the HTTP validators and the
  render cache key come from it.
- `render`: the deterministic iCalendar bytes for one feed at one version.
- `views`: `GET /feeds/<token>.ics` with ETag, Last-Modified and 304s.
"""
