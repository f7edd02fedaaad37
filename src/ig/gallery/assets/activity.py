"""Style and script of the jobs, create and usage pages (``ig.gallery.activity_pages``)."""

CSS = ""
JS = ""
