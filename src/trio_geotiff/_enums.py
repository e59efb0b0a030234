"""Enumerations shared by the metadata API, named as rasterio names them."""

from __future__ import annotations

import enum

__all__ = ["ColorInterp", "Interleaving", "MaskFlags"]


class ColorInterp(enum.Enum):
    """How a band is interpreted (rasterio's `ColorInterp` names)."""

    undefined = "undefined"
    gray = "gray"
    palette = "palette"
    red = "red"
    green = "green"
    blue = "blue"
    alpha = "alpha"
    hue = "hue"
    saturation = "saturation"
    lightness = "lightness"
    cyan = "cyan"
    magenta = "magenta"
    yellow = "yellow"
    black = "black"
    Y = "Y"
    Cb = "Cb"
    Cr = "Cr"
    pan = "pan"
    coastal = "coastal"
    rededge = "rededge"
    nir = "nir"
    swir = "swir"
    mwir = "mwir"
    lwir = "lwir"
    tir = "tir"
    other_ir = "other_ir"
    sar_ka = "sar_ka"
    sar_k = "sar_k"
    sar_ku = "sar_ku"
    sar_x = "sar_x"
    sar_c = "sar_c"
    sar_s = "sar_s"
    sar_l = "sar_l"
    sar_p = "sar_p"

    @classmethod
    def from_gdal_name(cls, name: str) -> ColorInterp:
        """Map a GDAL colour-interpretation name ("Red", "Gray", "Alpha"...) to a member."""
        key = name.strip()
        aliases = {"grey": "gray", "greyscale": "gray", "grayscale": "gray"}
        low = key.lower()
        low = aliases.get(low, low)
        for member in cls:
            if member.value.lower() == low:
                return member
        return cls.undefined


class Interleaving(enum.Enum):
    """How samples are laid out: all bands per pixel, or one plane per band."""

    pixel = "PIXEL"
    band = "BAND"


class MaskFlags(enum.IntFlag):
    """How a band's validity mask is made (rasterio's `MaskFlags`, GDAL's ``GMF_*`` bits).

    Each band's flags (see ``mask_flag_enums``) are a list of these members;
    OR-ed together they give GDAL's ``GetMaskFlags`` integer.
    """

    all_valid = 1
    """Every pixel is valid: there is no mask."""
    per_dataset = 2
    """One mask (a mask image or an alpha band) is shared by all bands."""
    alpha = 4
    """The mask is an alpha band."""
    nodata = 8
    """Pixels equal to the nodata value are invalid."""
