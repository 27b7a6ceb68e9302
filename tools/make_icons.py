"""Draw the app's icons: favicon.ico, the PNGs the web app manifest and iOS ask for, and an SVG.

    .venv/bin/python tools/make_icons.py          # (re)write scheduler/static/icons/
    .venv/bin/python tools/make_icons.py --check  # exit 1 if the committed files differ

A plain calendar page on the header's navy, in the stylesheet's colours
(scheduler/static/app.css): nothing in it hints at what the appointments are for, because the
icon sits on a client's home screen and in their browser's tabs and history.

One geometry feeds every file: the SVG is written from it, and the PNGs are rasterised from it
here, in pure Python (signed distances give the anti-aliased edges), so neither the app nor this
script needs an imaging library. The output is deterministic: the same geometry gives the same
bytes, so a re-run on unchanged code leaves git clean.
"""

import argparse
import struct
import sys
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "scheduler" / "static" / "icons"

# app.css: the top bar's navy, the accent blue, and the page white.
NAVY = "#12263f"
BLUE = "#0b57d0"
WHITE = "#ffffff"

UNITS = 512  # the geometry's square, scaled to each size
# (background corner radius, calendar zoom) per use. Tabs and home-screen tiles get a rounded
# tile and a calendar as large as it fits; a maskable icon keeps the calendar in the safe zone
# and a full square, which the launcher crops to its own shape; iOS rounds its icons itself
# (and would paint transparent corners black), so it gets a full square as well.
TAB = (112, 1.3)
TILE = (112, 1.2)
MASKABLE = (0, 1.0)
APPLE = (0, 1.15)

# (x0, y0, x1, y1, corner radius, colour), painted in order. Everything stays inside the
# maskable safe zone (a circle of 40% of the width around the centre), so a launcher that cuts
# the icon into a circle or a squircle cuts only background.
PAGE = (128, 144, 384, 392, 32, WHITE)
HEADER = [(128, 144, 384, 232, 32, BLUE), (128, 200, 384, 232, 0, BLUE)]
RINGS = [(180, 112, 212, 176, 16, WHITE), (300, 112, 332, 176, 16, WHITE)]
CELL, GAP, GRID_X, GRID_Y = 32, 18, 165, 246


def _grid(rows: int, columns: int, cell: float, gap: float, x: float, y: float,
          today: tuple[int, int]) -> list:
    """Days as small squares, the one at `today` (row, column) in blue."""
    shapes = []
    for row in range(rows):
        for column in range(columns):
            x0, y0 = x + column * (cell + gap), y + row * (cell + gap)
            colour = BLUE if (row, column) == today else NAVY
            shapes.append((x0, y0, x0 + cell, y0 + cell, cell / 6, colour))
    return shapes


def shapes(corner: float, small: bool, zoom: float) -> list:
    """The icon as rounded rectangles, back to front, the calendar grown by `zoom` about the
    centre. Small sizes (tabs) get a coarser grid: at 16 pixels twelve days blur into grey."""
    grid = (_grid(2, 2, 44, 24, 200, 256, today=(1, 1)) if small
            else _grid(3, 4, CELL, GAP, GRID_X, GRID_Y, today=(1, 2)))
    middle = UNITS / 2

    def grown(shape):
        x0, y0, x1, y1, radius, colour = shape
        return (*(middle + (v - middle) * zoom for v in (x0, y0, x1, y1)), radius * zoom, colour)

    return [(0, 0, UNITS, UNITS, corner, NAVY), *map(grown, [PAGE, *HEADER, *RINGS, *grid])]


# --- SVG ---------------------------------------------------------------------------------------


def svg() -> str:
    def number(value: float) -> str:
        return f"{value:g}"

    rects = []
    corner, zoom = TAB  # browsers draw an SVG favicon at tab size
    for x0, y0, x1, y1, radius, colour in shapes(corner, small=True, zoom=zoom):
        corner = f' rx="{number(radius)}"' if radius else ""
        rects.append(f'  <rect x="{number(x0)}" y="{number(y0)}" width="{number(x1 - x0)}" '
                     f'height="{number(y1 - y0)}"{corner} fill="{colour}"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {UNITS} {UNITS}">\n'
            + "\n".join(rects) + "\n</svg>\n")


# --- rasterising -------------------------------------------------------------------------------


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _distance(x: float, y: float, shape) -> float:
    """Signed distance from (x, y) to a rounded rectangle: negative inside."""
    x0, y0, x1, y1, radius, _ = shape
    half_w, half_h = (x1 - x0) / 2, (y1 - y0) / 2
    qx = abs(x - (x0 + half_w)) - half_w + radius
    qy = abs(y - (y0 + half_h)) - half_h + radius
    outside = (max(qx, 0.0) ** 2 + max(qy, 0.0) ** 2) ** 0.5
    return outside + min(max(qx, qy), 0.0) - radius


def rasterise(size: int, corner: float, zoom: float) -> bytes:
    """Straight-alpha RGBA rows, each shape painted over the last with its edge coverage."""
    scale = size / UNITS
    pixels = [[0.0, 0.0, 0.0, 0.0] for _ in range(size * size)]
    for shape in shapes(corner, small=size < 48, zoom=zoom):
        red, green, blue = _rgb(shape[5])
        left, top = int(shape[0] * scale), int(shape[1] * scale)
        right, bottom = min(size, int(shape[2] * scale) + 1), min(size, int(shape[3] * scale) + 1)
        for row in range(top, bottom):
            y = (row + 0.5) / scale
            for column in range(left, right):
                # Half a pixel either side of the edge is partly covered: a one-pixel ramp.
                cover = 0.5 - _distance((column + 0.5) / scale, y, shape) * scale
                if cover <= 0:
                    continue
                alpha = min(cover, 1.0)
                pixel = pixels[row * size + column]
                under = pixel[3] * (1 - alpha)
                total = alpha + under
                pixel[0] = (red * alpha + pixel[0] * under) / total
                pixel[1] = (green * alpha + pixel[1] * under) / total
                pixel[2] = (blue * alpha + pixel[2] * under) / total
                pixel[3] = total
    out = bytearray()
    for row in range(size):
        out.append(0)  # PNG filter type 0 (none) for each scanline
        for red, green, blue, alpha in pixels[row * size:(row + 1) * size]:
            out += bytes((round(red), round(green), round(blue), round(alpha * 255)))
    return bytes(out)


def png(size: int, kind: tuple[float, float]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rasterise(size, *kind), 9)) + chunk(b"IEND", b""))


def ico(sizes: tuple[int, ...]) -> bytes:
    """A .ico of PNG images (every browser since IE 9 reads them), one per size."""
    images = [png(size, TAB) for size in sizes]
    directory = bytearray(struct.pack("<HHH", 0, 1, len(images)))
    offset = 6 + 16 * len(images)
    for size, image in zip(sizes, images, strict=True):
        directory += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(image),
                                 offset)
        offset += len(image)
    return bytes(directory) + b"".join(images)


def files() -> dict[str, bytes]:
    """Every icon file by name; the manifest and templates/base.html name these files."""
    return {
        "favicon.ico": ico((16, 32, 48)),
        "icon.svg": svg().encode(),
        "icon-192.png": png(192, TILE),
        "icon-512.png": png(512, TILE),
        "icon-maskable-512.png": png(512, MASKABLE),
        "apple-touch-icon.png": png(180, APPLE),
    }


def _content(name: str, data: bytes) -> object:
    """What a file shows, not how zlib packed it: zlib-ng and zlib compress the same pixels into
    different bytes, and --check must not fail on a machine that has the other one."""
    def pixels(image: bytes) -> tuple[bytes, bytes]:
        assert image[12:16] == b"IHDR"
        header = image[16:29]
        chunks, at = [], 8
        while at < len(image):
            length, kind = struct.unpack(">I4s", image[at:at + 8])
            if kind == b"IDAT":
                chunks.append(image[at + 8:at + 8 + length])
            at += 12 + length
        return header, zlib.decompress(b"".join(chunks))

    if name.endswith(".png"):
        return pixels(data)
    if name.endswith(".ico"):
        count = struct.unpack("<H", data[4:6])[0]
        images = []
        for n in range(count):
            length, offset = struct.unpack("<II", data[14 + 16 * n:22 + 16 * n])
            images.append(pixels(data[offset:offset + length]))
        return images
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a committed icon differs from the drawing")
    args = parser.parse_args()
    stale = []
    for name, data in files().items():
        path = OUT / name
        if args.check:
            if not path.exists() or _content(name, path.read_bytes()) != _content(name, data):
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path.relative_to(OUT.parents[2])} ({len(data)} bytes)")
    if stale:
        print("out of date: " + ", ".join(stale) + " (run tools/make_icons.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
