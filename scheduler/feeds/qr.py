"""QR codes of feed links as SVG, so a phone can subscribe by pointing its camera."""

import qrcode
import qrcode.image.svg


def svg(link: str) -> str:
    """An SVG path drawing of the link; scales with CSS, no raster and no external service."""
    image = qrcode.make(link, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    return image.to_string(encoding="unicode")
