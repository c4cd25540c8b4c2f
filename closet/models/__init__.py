"""Networks of the closet pipeline, one file per network (see STYLE.md section 3)."""
