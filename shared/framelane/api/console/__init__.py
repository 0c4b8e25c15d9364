"""The Framelane Console: a same-origin web page to run, watch and compare tasks (no build step)."""
