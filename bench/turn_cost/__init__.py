"""Server CPU of the page elements one chat turn builds and finishes (message views, sidebar entry, finish)."""
