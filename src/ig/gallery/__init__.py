"""The gallery: ig's own pages for looking at the library (``/``), one artifact, recent jobs, a
create form and usage, served as HTML by either runtime. Its scripts call the API through
``/ui/v1/...``, which is the API itself authorised by the gallery's session instead of the bearer
token (``ig.gallery.access``); ``ig.web`` puts the gallery and the API behind one entry point."""
