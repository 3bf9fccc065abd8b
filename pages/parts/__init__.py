"""Page sections: each module's `render()` draws one view; a page arranges several (as tabs or a picker)."""
