//! placeholder while trust compiles
