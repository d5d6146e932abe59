"""The tools the labs' test cells use (one module per lab: `step1`, `step2`, ...), imported by the
test cells themselves. The learner's functions and the notebook's namespace are passed in
explicitly. Under the grader each test cell re-imports these modules from disk (grader.TEST_PREFIX),
so a submission cannot patch them."""
