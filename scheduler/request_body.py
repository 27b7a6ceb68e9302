"""Request bodies past MAX_CONTENT_LENGTH are refused with 413, however they are sent."""

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream


class _BodyOfUnknownLength(LimitedStream):
    """A chunked body, read up to the limit, and refused if more follows.

    werkzeug refuses a Content-Length over the limit before reading anything, but reading a
    chunked body whole (request.get_data, which the API's JSON parsing uses) stops quietly
    at the limit: the first megabyte of a larger body would be parsed as if it were all.
    """

    def readall(self) -> bytes:
        data = super().readall()
        if self.is_exhausted and self._stream.read(1):
            raise RequestEntityTooLarge()
        return data


class BoundedRequest(Request):
    @cached_property
    def stream(self):
        limit = self.max_content_length
        # A server that decodes chunked bodies (gunicorn) says so with wsgi.input_terminated;
        # without it werkzeug reads no body of unknown length at all.
        if (limit is not None and self.content_length is None and not self.shallow
                and "wsgi.input_terminated" in self.environ):
            return _BodyOfUnknownLength(self.environ["wsgi.input"], limit, is_max=True)
        return super().stream
