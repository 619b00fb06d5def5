//! Unit tests of the language as a whole: compile, check, evaluate.
