"""Reference answers that later labs build on, as modules generated from their solutions by
`make labs` (`grading.labs.REFERENCES`): `step1` is lab 01's server, which lab 05 extends. Never
edit them by hand: edit the solution, then run `make labs`; a test fails while one is stale."""
