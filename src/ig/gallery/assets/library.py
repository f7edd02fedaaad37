"""Style and script of the library grid and the artifact page (``ig.gallery.library_pages``)."""

CSS = ""
JS = ""
