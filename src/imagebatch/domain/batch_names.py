"""Names the service gives batches their user left unnamed, kept as a code and its numbers.

The English text is what the API and the CLI show; the web pages rebuild the name from the code
(`batch_name.<code>` in the message catalogues) in the reader's language. A name the user wrote
has no code and is shown as written, never translated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: code -> the English text for one and for any other count ({name}: from the params)
_ENGLISH = {
    "images": ("{n} image", "{n} images"),
    "rows": ("{n} row", "{n} rows"),
    "edit_of_image": ("Edit of image {id}", "Edit of image {id}"),
}


@dataclass(frozen=True, slots=True)
class GeneratedName:
    code: str
    params: dict[str, int] = field(default_factory=dict)

    @property
    def english(self) -> str:
        one, other = _ENGLISH[self.code]
        return (one if self.params.get("n") == 1 else other).format(**self.params)


def images(count: int) -> GeneratedName:
    """A batch editing `count` uploaded images."""
    return GeneratedName("images", {"n": count})


def rows(count: int) -> GeneratedName:
    """A batch made from `count` table rows."""
    return GeneratedName("rows", {"n": count})


def edit_of_image(image_id: int) -> GeneratedName:
    """A batch editing one stored image."""
    return GeneratedName("edit_of_image", {"id": image_id})
